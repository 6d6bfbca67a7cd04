// Istio's string and address patterns, turned into the match forms proxies evaluate.
import { isIP } from 'node:net';
import type { StringMatch } from '#core/config/model.ts';

export class InvalidPolicyField extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'InvalidPolicyField';
  }
}

/** `*` any present value, `prefix*`, `*suffix`, anything else exact. */
export function toStringMatch(pattern: string): StringMatch {
  if (pattern === '*') return { presence: true };
  if (pattern.startsWith('*')) return { suffix: pattern.slice(1) };
  if (pattern.endsWith('*')) return { prefix: pattern.slice(0, -1) };
  return { exact: pattern };
}

/**
 * Principals are compared without the `spiffe://` scheme (Istio's `<td>/ns/<ns>/sa/<sa>`
 * form), so a user who writes the full URI means the same thing.
 */
export function toPrincipalMatch(pattern: string): StringMatch {
  return toStringMatch(pattern.startsWith('spiffe://') ? pattern.slice('spiffe://'.length) : pattern);
}

/** Istio's `<namespace>/<service account>`; compared against the peer's `ns/sa`. */
export function toServiceAccountMatch(value: string, path: string): StringMatch {
  if (!/^[a-z0-9]([-a-z0-9]*[a-z0-9])?\/[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/.test(value)) {
    throw new InvalidPolicyField(`${path}: "${value}" is not <namespace>/<service account>`);
  }
  return { exact: value };
}

export function toPort(value: string, path: string): number {
  const n = /^\d{1,5}$/.test(value) ? Number(value) : NaN;
  if (!(n >= 1 && n <= 65535)) throw new InvalidPolicyField(`${path}: "${value}" is not a port number`);
  return n;
}

/** An address or CIDR, checked so a typo cannot silently match nothing (or everything). */
export function toAddressMatch(value: string, path: string): string {
  const [addr = '', len, extra] = value.split('/');
  const family = isIP(addr);
  const max = family === 4 ? 32 : 128;
  const lenOk = len === undefined || (/^\d{1,3}$/.test(len) && Number(len) <= max);
  if (family === 0 || !lenOk || extra !== undefined) throw new InvalidPolicyField(`${path}: "${value}" is not an IP address or CIDR`);
  return value;
}
