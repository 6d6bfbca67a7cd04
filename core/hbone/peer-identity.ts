// Extracts a peer's SPIFFE id from the subjectAltName text Node reports for a certificate
// (`URI:spiffe://…, DNS:…`) and checks it belongs to the mesh trust domain. A SPIFFE
// certificate carries exactly one URI SAN; anything else is refused.

/** Splits Node's subjectAltName text into `[type, value]` pairs; quoted values are JSON strings. */
export function parseSubjectAltName(text: string): [string, string][] {
  const out: [string, string][] = [];
  let i = 0;
  while (i < text.length) {
    const colon = text.indexOf(':', i);
    if (colon < 0) break;
    const type = text.slice(i, colon).trim();
    let j = colon + 1;
    let value: string;
    if (text[j] === '"') {
      let k = j + 1;
      while (k < text.length && text[k] !== '"') k += text[k] === '\\' ? 2 : 1;
      const parsed: unknown = JSON.parse(text.slice(j, k + 1));
      value = typeof parsed === 'string' ? parsed : '';
      j = k + 1;
    } else {
      const comma = text.indexOf(',', j);
      value = comma < 0 ? text.slice(j) : text.slice(j, comma);
      j = comma < 0 ? text.length : comma;
    }
    out.push([type, value]);
    const next = text.indexOf(',', j);
    i = next < 0 ? text.length : next + 1;
  }
  return out;
}

export type PeerIdentityResult = { ok: true; identity: string } | { ok: false; reason: string };

/** The single SPIFFE URI SAN of a certificate, if it is in `trustDomain`. */
export function spiffeIdFromSan(subjectAltName: string | undefined, trustDomain: string): PeerIdentityResult {
  const uris = parseSubjectAltName(subjectAltName ?? '').filter(([t]) => t === 'URI').map(([, v]) => v);
  if (uris.length === 0) return { ok: false, reason: 'certificate has no URI SAN' };
  if (uris.length > 1) return { ok: false, reason: 'certificate has more than one URI SAN' };
  const uri = uris[0] ?? '';
  const m = /^spiffe:\/\/([a-z0-9._-]+)(\/[^?#]*)?$/.exec(uri);
  if (m === null || m[2] === undefined || m[2] === '/') return { ok: false, reason: `URI SAN ${JSON.stringify(uri)} is not a SPIFFE id` };
  if (m[1] !== trustDomain) return { ok: false, reason: `SPIFFE id ${uri} is outside trust domain ${trustDomain}` };
  return { ok: true, identity: uri };
}

/** The trust domain of a SPIFFE id (`spiffe://<td>/…`), or undefined. */
export function trustDomainOf(spiffeId: string): string | undefined {
  return /^spiffe:\/\/([^/]+)\//.exec(spiffeId)?.[1];
}
