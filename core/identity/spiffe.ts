// SPIFFE workload identities of the form spiffe://<trust-domain>/ns/<namespace>/sa/<service-account>:
// the one place that decides what a valid mesh identity looks like.
import { WeftError } from '#core/errors.ts';

export interface SpiffeId {
  trustDomain: string;
  namespace: string;
  serviceAccount: string;
}

export const DEFAULT_TRUST_DOMAIN = 'cluster.local';

const SCHEME = 'spiffe://';
// SPIFFE ID spec: at most 2048 bytes for the whole URI, 255 for the trust domain.
const MAX_URI = 2048;
const MAX_TRUST_DOMAIN = 255;
const TRUST_DOMAIN = /^[a-z0-9._-]+$/;
// Kubernetes: a namespace is an RFC 1123 label; a service account name is an RFC 1123 subdomain.
const DNS_LABEL = /^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$/;

/** Parses a SPIFFE id; throws WEFT_ERR_BAD_IDENTITY saying what is wrong. */
export function parseSpiffeId(uri: string): SpiffeId {
  const fail = (why: string): never => {
    throw new WeftError('WEFT_ERR_BAD_IDENTITY', `bad SPIFFE id ${JSON.stringify(uri)}: ${why}`, {
      hint: 'expected spiffe://<trust-domain>/ns/<namespace>/sa/<service-account>',
    });
  };
  if (typeof uri !== 'string') return fail('not a string');
  if (uri.length > MAX_URI) return fail(`longer than ${MAX_URI} characters`);
  if (!uri.startsWith(SCHEME)) return fail('scheme must be "spiffe://"');
  const rest = uri.slice(SCHEME.length);
  if (rest.includes('?')) return fail('a query is not allowed');
  if (rest.includes('#')) return fail('a fragment is not allowed');
  const slash = rest.indexOf('/');
  const trustDomain = slash === -1 ? rest : rest.slice(0, slash);
  if (trustDomain === '') return fail('trust domain is empty');
  if (trustDomain.includes('@')) return fail('userinfo is not allowed');
  if (trustDomain.includes(':')) return fail('a port is not allowed');
  if (trustDomain.length > MAX_TRUST_DOMAIN) return fail(`trust domain longer than ${MAX_TRUST_DOMAIN} characters`);
  if (!TRUST_DOMAIN.test(trustDomain)) return fail('trust domain may hold only lowercase letters, digits, ".", "-" and "_"');
  if (slash === -1) return fail('path /ns/<namespace>/sa/<service-account> is missing');
  const segments = rest.slice(slash + 1).split('/');
  if (segments.length !== 4 || segments[0] !== 'ns' || segments[2] !== 'sa') {
    return fail('path must be exactly /ns/<namespace>/sa/<service-account>');
  }
  const namespace = segments[1] ?? '';
  const serviceAccount = segments[3] ?? '';
  if (!isDnsLabel(namespace)) return fail('namespace must be a DNS label (lowercase letters, digits, "-", at most 63)');
  if (!isDnsSubdomain(serviceAccount)) {
    return fail('service account must be a DNS subdomain (lowercase letters, digits, "-", ".", at most 253)');
  }
  return { trustDomain, namespace, serviceAccount };
}

export function formatSpiffeId(id: SpiffeId): string {
  return `${SCHEME}${id.trustDomain}/ns/${id.namespace}/sa/${id.serviceAccount}`;
}

export function isSpiffeId(value: unknown): value is string {
  if (typeof value !== 'string') return false;
  try {
    parseSpiffeId(value);
    return true;
  } catch {
    return false;
  }
}

/** The identity of a service account, validated. */
export function spiffeIdFor(namespace: string, serviceAccount: string, trustDomain = DEFAULT_TRUST_DOMAIN): string {
  return formatSpiffeId(parseSpiffeId(formatSpiffeId({ trustDomain, namespace, serviceAccount })));
}

function isDnsLabel(s: string): boolean {
  return s.length <= 63 && DNS_LABEL.test(s);
}

function isDnsSubdomain(s: string): boolean {
  return s.length <= 253 && DNS_SUBDOMAIN.test(s) && s.split('.').every((l) => l.length <= 63);
}
