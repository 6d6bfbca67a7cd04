// The request headers HBONE carries (forwarded, baggage, traceparent): defaults for the
// client and a guarded read for the server.
import { randomBytes } from 'node:crypto';
import { formatHostPort } from '#core/hbone/authority.ts';

export interface HboneHeaders {
  forwarded?: string;
  baggage?: string;
  traceparent?: string;
}

/** `for="ip:port"` (RFC 7239 quotes it because of the colon), plus `;host=` when known. */
export function forwardedFor(host: string, port: number, serviceHost?: string): string {
  const base = `for="${formatHostPort(host, port)}"`;
  return serviceHost === undefined || serviceHost === '' ? base : `${base};host=${serviceHost}`;
}

/** A fresh W3C traceparent: version 00, random trace and parent ids, not sampled. */
export function newTraceparent(): string {
  const b = randomBytes(24).toString('hex');
  return `00-${b.slice(0, 32)}-${b.slice(32, 48)}-00`;
}

/** Reads the three headers from an incoming header object; ignores anything that is not a string. */
export function pickHboneHeaders(headers: Readonly<Record<string, unknown>>): HboneHeaders {
  const out: HboneHeaders = {};
  const f = headers['forwarded'];
  const b = headers['baggage'];
  const t = headers['traceparent'];
  if (typeof f === 'string') out.forwarded = f;
  if (typeof b === 'string') out.baggage = b;
  if (typeof t === 'string') out.traceparent = t;
  return out;
}
