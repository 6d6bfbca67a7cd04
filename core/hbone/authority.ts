// Parses the `:authority` of an HBONE CONNECT: `ip:port` with an IPv4 address or a
// bracketed IPv6 address and a port 1-65535. Anything else (names, ports out of range,
// zone ids, stray characters) is a bad request.
import { isIPv4, isIPv6 } from 'node:net';

export interface HostPort {
  host: string;
  port: number;
}

export function parseAuthority(authority: string): HostPort | undefined {
  let host: string;
  let portText: string;
  if (authority.startsWith('[')) {
    const close = authority.indexOf(']');
    if (close < 0 || authority[close + 1] !== ':') return undefined;
    host = authority.slice(1, close);
    portText = authority.slice(close + 2);
    if (!isIPv6(host) || host.includes('%')) return undefined;
  } else {
    const colon = authority.lastIndexOf(':');
    if (colon < 0) return undefined;
    host = authority.slice(0, colon);
    portText = authority.slice(colon + 1);
    if (!isIPv4(host)) return undefined;
  }
  if (!/^[0-9]{1,5}$/.test(portText)) return undefined;
  const port = Number(portText);
  if (port < 1 || port > 65535) return undefined;
  return { host, port };
}

/** The `ip:port` text of an address, IPv6 in brackets (for `:authority` and `forwarded`). */
export function formatHostPort(host: string, port: number): string {
  return isIPv6(host) ? `[${host}]:${port}` : `${host}:${port}`;
}
