#!/usr/bin/env bash
# Makes a fresh machine ready for weft: Debian packages the mesh and its tests use, the npm
# dependencies (which pin Node.js 24), and the native socket addon. Idempotent and quiet
# when everything is already in place.
set -euo pipefail
cd "$(dirname "$0")/.."

# Every program weft's code, tests and benchmarks run, as command:debian-package pairs; the
# command tells whether the package is present. scripts/programs.test.ts fails when a source
# starts a program that is not listed here.
DEBIAN_NEEDS=(
  ip:iproute2 iptables:iptables iptables-save:iptables iptables-restore:iptables
  nsenter:util-linux unshare:util-linux prlimit:util-linux bash:bash cat:coreutils ss:iproute2 sysctl:procps curl:curl socat:socat iperf3:iperf3 wrk:wrk
  h2load:nghttp2-client stunnel4:stunnel4 tcpdump:tcpdump ps:procps openssl:openssl
  prometheus:prometheus make:make g++:g++ python3:python3 sh:dash sleep:coreutils getconf:libc-bin
  chromium:chromium kubectl:kubernetes-client env:coreutils zsh:zsh
  nginx:nginx haproxy:haproxy redis-server:redis-server
)

missing=()
for pair in "${DEBIAN_NEEDS[@]}"; do
  cmd=${pair%%:*} pkg=${pair#*:}
  if ! command -v "$cmd" >/dev/null 2>&1 && [ ! -x "/usr/sbin/$cmd" ] && [ ! -x "/usr/bin/$cmd" ] && [ ! -x "/sbin/$cmd" ]; then
    case " ${missing[*]-} " in *" $pkg "*) ;; *) missing+=("$pkg") ;; esac
  fi
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "weft: missing Debian packages: ${missing[*]}" >&2
    echo "weft: run as root (the embedded cluster needs network namespaces), or: sudo apt-get install ${missing[*]}" >&2
    exit 1
  fi
  echo "weft: installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# npm dependencies, reinstalled only when the lock file changed.
stamp=node_modules/.weft-lock-stamp
want=$(sha256sum package-lock.json package.json | sha256sum | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "weft: installing npm dependencies"
  npm ci --no-audit --no-fund --loglevel=error
  echo "$want" > "$stamp"
fi

# Native addon (N-API, so headers of any Node version build a module Node 24 loads).
if [ -f ztunnel/native/binding.gyp ]; then
  addon=ztunnel/native/build/Release/weft_native.node
  if [ ! -f "$addon" ] || [ -n "$(find ztunnel/native/src ztunnel/native/binding.gyp -newer "$addon" 2>/dev/null)" ]; then
    echo "weft: building the native socket addon"
    # npm puts its own node-gyp on PATH only for scripts it runs; run by hand, use npm's copy.
    gyp=(node-gyp)
    if ! command -v node-gyp >/dev/null 2>&1; then
      gyp=(node "$(npm root -g)/npm/node_modules/node-gyp/bin/node-gyp.js")
    fi
    headers=$(ls -d node_modules/node/node_modules/node-linux-*/include/node 2>/dev/null | head -n1 || true)
    if [ -n "$headers" ]; then
      "${gyp[@]}" rebuild --silent --directory ztunnel/native --nodedir="$PWD/${headers%/include/node}" >/dev/null
    else
      "${gyp[@]}" rebuild --silent --directory ztunnel/native >/dev/null
    fi
  fi
fi
