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

/** The client port of the first `forwarded` element, when it names one (`for="ip:port"`). */
export function forwardedSourcePort(header: string | undefined): number | undefined {
  if (header === undefined) return undefined;
  const first = header.split(',')[0] ?? '';
  for (const pair of first.split(';')) {
    const eq = pair.indexOf('=');
    if (eq < 0 || pair.slice(0, eq).trim().toLowerCase() !== 'for') continue;
    let v = pair.slice(eq + 1).trim();
    if (v.startsWith('"') && v.endsWith('"') && v.length >= 2) v = v.slice(1, -1);
    const m = v.startsWith('[') ? /^\[[^\]]+\]:(\d{1,5})$/.exec(v) : /^[^:]+:(\d{1,5})$/.exec(v);
    const port = m?.[1] === undefined ? undefined : Number(m[1]);
    return port !== undefined && port > 0 && port <= 65535 ? port : undefined;
  }
  return undefined;
}
