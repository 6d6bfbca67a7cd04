// When ztunnel may report ready: every listener bound, config received, and a certificate
// held for every enrolled pod's identity. Pure, so the rule is tested apart from HTTP.
import type { CertificateStatus } from '#core/certs/manager.ts';

export interface ReadinessInputs {
  listenersBound: boolean;
  hasConfig: boolean;
  /** Enrollment has acted on the config received so far. */
  enrollmentCaughtUp: boolean;
  /** Identities of enrolled pods. */
  identities: readonly string[];
  certificates: readonly CertificateStatus[];
}

export function readiness(i: ReadinessInputs): { ready: boolean; reasons: string[] } {
  const reasons: string[] = [];
  if (!i.listenersBound) reasons.push('listeners not bound yet');
  if (!i.hasConfig) reasons.push('no config received yet');
  else if (!i.enrollmentCaughtUp) reasons.push('enrolling pods of the latest config');
  const held = new Set(i.certificates.filter((c) => c.state === 'ready' || c.state === 'renewing').map((c) => c.identity));
  const missing = [...new Set(i.identities)].filter((id) => !held.has(id));
  if (missing.length > 0) reasons.push(`no certificate yet for ${missing.join(', ')}`);
  return { ready: reasons.length === 0, reasons };
}
