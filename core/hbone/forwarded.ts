// The original client address from an HBONE `forwarded` header (`for="ip:port"`), so the
// destination can connect to the app from the caller's own address.
import net from 'node:net';

export function forwardedSource(header: string | undefined): string | undefined {
  if (header === undefined) return undefined;
  // The first element describes the client closest to the origin.
  const first = header.split(',')[0] ?? '';
  for (const pair of first.split(';')) {
    const eq = pair.indexOf('=');
    if (eq < 0 || pair.slice(0, eq).trim().toLowerCase() !== 'for') continue;
    let v = pair.slice(eq + 1).trim();
    if (v.startsWith('"') && v.endsWith('"') && v.length >= 2) v = v.slice(1, -1);
    if (v.startsWith('[')) {
      const end = v.indexOf(']');
      const ip = end > 0 ? v.slice(1, end) : '';
      return net.isIP(ip) === 6 ? ip : undefined;
    }
    const colon = v.lastIndexOf(':');
    const ip = colon > 0 && v.indexOf(':') === colon ? v.slice(0, colon) : v;
    return net.isIP(ip) === 4 ? ip : undefined;
  }
  return undefined;
}
