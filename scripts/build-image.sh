#!/usr/bin/env bash
# Builds what the weft image runs, from a source tree whose npm dependencies are installed (npm
# ci, dev dependencies included), into OUT: the components as JavaScript emitted by tsc (types
# are checked by `npm run typecheck`, not here), the files they read at run time, a package.json
# whose `#` import map points at the emitted .js, the native socket addon built from source,
# and the production dependencies only. manifests/Dockerfile runs it in its build stage and
# copies OUT into the runtime stage; test/install/ runs it into a temporary folder and starts
# the components from there.
#   scripts/build-image.sh SRC OUT
set -euo pipefail
if [ $# -ne 2 ]; then
  echo "usage: scripts/build-image.sh SRC OUT" >&2
  exit 2
fi
src=$(cd "$1" && pwd)
mkdir -p "$2"
out=$(cd "$2" && pwd)
if [ -n "$(ls -A "$out")" ]; then
  echo "build-image: $out is not empty" >&2
  exit 1
fi
cd "$src"
node=${NODE:-node}

# 1. JavaScript. tsc follows the imports from the entry points in tsconfig.build.json, so tests
# and test doubles stay out; rewriteRelativeImportExtensions turns './x.ts' into './x.js'.
"$node" node_modules/typescript/bin/tsc -p tsconfig.build.json --noCheck --outDir "$out"

# 2. Files read at run time, beside the code that reads them (paths from import.meta.url).
for f in manifests/waypoint-template.yaml controller/dashboard/page/index.html \
  controller/dashboard/page/style.css controller/dashboard/page/app.ts; do
  mkdir -p "$out/$(dirname "$f")"
  cp "$f" "$out/$f"
done

# 3. package.json: no dev dependencies or scripts, and '#core/x.ts' resolving to ./core/x.js.
"$node" --input-type=module -e '
  import { readFileSync, writeFileSync } from "node:fs";
  const [from, to] = process.argv.slice(1);
  const pkg = JSON.parse(readFileSync(from, "utf8"));
  const imports = {};
  for (const [key, target] of Object.entries(pkg.imports ?? {})) {
    if (!key.endsWith("/*") || !target.endsWith("/*")) throw new Error(`import map entry ${key} is not a folder pattern`);
    imports[`${key}.ts`] = `${target}.js`;
  }
  const { name, version, description, type, license, engines, dependencies } = pkg;
  writeFileSync(to, `${JSON.stringify({ name, version, description, type, license, engines, imports, dependencies }, null, 2)}\n`);
' package.json "$out/package.json"

# 4. The native addon, built from its sources in a scratch folder (never the source tree's build/).
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
cp -r ztunnel/native/binding.gyp ztunnel/native/src "$scratch/"
gyp=(node-gyp)
if ! command -v node-gyp >/dev/null 2>&1; then
  # npm's own copy, found from the npm on PATH (whichever Node runs it)
  gyp=("$node" "$(dirname "$(readlink -f "$(command -v npm)")")/../node_modules/node-gyp/bin/node-gyp.js")
fi
# The headers come with the pinned Node package, so no download is needed.
headers=$(ls -d node_modules/node/node_modules/node-linux-*/include/node 2>/dev/null | head -n1 || true)
nodedir=()
if [ -n "$headers" ]; then nodedir=(--nodedir="$src/${headers%/include/node}"); fi
"${gyp[@]}" rebuild --silent --directory "$scratch" "${nodedir[@]}" >/dev/null
mkdir -p "$out/ztunnel/native/build/Release"
cp "$scratch/build/Release/weft_native.node" "$out/ztunnel/native/build/Release/"

# 5. Production dependencies: what the lock file does not mark dev-only, copied from node_modules.
"$node" --input-type=module -e '
  import { cpSync, existsSync, readFileSync } from "node:fs";
  const [src, out] = process.argv.slice(1);
  const lock = JSON.parse(readFileSync(`${src}/package-lock.json`, "utf8"));
  for (const [path, entry] of Object.entries(lock.packages ?? {})) {
    if (path === "" || entry.dev === true || entry.link === true) continue;
    const from = `${src}/${path}`;
    if (!existsSync(from)) {
      if (entry.optional === true) continue;
      throw new Error(`${path} is not installed: run npm ci`);
    }
    cpSync(from, `${out}/${path}`, { recursive: true, dereference: true, filter: (p) => p === from || !p.startsWith(`${from}/node_modules/`) });
  }
' "$src" "$out"
