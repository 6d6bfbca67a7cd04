// The config push protocol between the controller and proxies: JSON text frames over a
// WebSocket (TLS), or the same JSON deflated in binary frames for clients that ask
// (compression.ts). A proxy subscribes, receives a snapshot then deltas, each with a version,
// and answers every version with an ACK or a NACK listing the resources it refused.
import { FieldError, arr, obj, oneOf, str, version } from './fields.ts';
import type { Resource, ResourceRef } from './model.ts';
import { parseResourceRef } from './validate.ts';
import type { RejectedResource } from './validate.ts';

export type { RejectedResource } from './validate.ts';

/** Path of the push stream on the controller's HTTPS listener. */
export const PUSH_PATH = '/v1/push';
/** TLS server name the controller's certificate carries (as a DNS SAN). */
export const CONTROLLER_SERVER_NAME = 'weft-controller';
/** Largest frame a client may send (acks and nacks are small; a nack lists at most a view). */
export const MAX_CLIENT_FRAME_BYTES = 4 * 1024 * 1024;
/** Largest message the server may send (after inflating, when deflated): a full snapshot of a large mesh. */
export const MAX_SERVER_FRAME_BYTES = 256 * 1024 * 1024;

export type ClientDescriptor = { kind: 'ztunnel'; node: string } | { kind: 'waypoint'; identity: string };

export interface SubscribeMessage {
  type: 'subscribe';
  client: ClientDescriptor;
  token: string;
  /** The last version the client applied, when it reconnects. */
  resumeVersion?: number;
}

export interface AckMessage {
  type: 'ack';
  version: number;
}

export interface NackMessage {
  type: 'nack';
  version: number;
  errors: RejectedResource[];
}

export type ClientMessage = SubscribeMessage | AckMessage | NackMessage;

export interface SnapshotMessage {
  type: 'snapshot';
  version: number;
  resources: Resource[];
}

export interface DeltaMessage {
  type: 'delta';
  version: number;
  updated: Resource[];
  removed: ResourceRef[];
}

export interface ErrorMessage {
  type: 'error';
  code: string;
  message: string;
}

export type ServerMessage = SnapshotMessage | DeltaMessage | ErrorMessage;

/** Codes of `error` messages; the server closes the stream after sending one. */
export const PushErrorCode = {
  badMessage: 'WEFT_ERR_PUSH_BAD_MESSAGE',
  unauthenticated: 'WEFT_ERR_PUSH_UNAUTHENTICATED',
  notSubscribed: 'WEFT_ERR_PUSH_NOT_SUBSCRIBED',
  replaced: 'WEFT_ERR_PUSH_REPLACED',
  tooSlow: 'WEFT_ERR_PUSH_TOO_SLOW',
  shuttingDown: 'WEFT_ERR_PUSH_SHUTTING_DOWN',
} as const;

export type Parsed<T> = { ok: true; message: T } | { ok: false; reason: string };

/**
 * A server message as a client reads it: the envelope checked, the resources still as they
 * came. Each proxy's one mutator validates them, so that a refused resource can keep its last
 * good version and be counted, and its refusals are exactly the NACK.
 */
export type ReceivedServerMessage =
  | { type: 'snapshot'; version: number; resources: unknown[] }
  | { type: 'delta'; version: number; updated: unknown[]; removed: ResourceRef[] }
  | ErrorMessage;

/** JSON.parse that reports failure instead of throwing. */
export function decodeFrame(text: string): Parsed<unknown> {
  try {
    return { ok: true, message: JSON.parse(text) as unknown };
  } catch (err) {
    return { ok: false, reason: `not JSON: ${err instanceof Error ? err.message : String(err)}` };
  }
}

/** A stable id for a client, used in logs, metrics and per-client state. */
export function clientId(c: ClientDescriptor): string {
  return c.kind === 'ztunnel' ? `ztunnel/${c.node}` : `waypoint/${c.identity}`;
}

function clientDescriptor(v: unknown, path: string): ClientDescriptor {
  const o = obj(v, path);
  const kind = oneOf(o, 'kind', path, ['ztunnel', 'waypoint'] as const);
  if (kind === 'ztunnel') return { kind, node: str(o, 'node', path) };
  const identity = str(o, 'identity', path);
  if (!identity.startsWith('spiffe://')) throw new FieldError(`${path}.identity`, 'must be a SPIFFE id');
  return { kind, identity };
}

function rejection(v: unknown, path: string): RejectedResource {
  const o = obj(v, path);
  return { kind: str(o, 'kind', path), key: str(o, 'key', path, { empty: true }), reason: str(o, 'reason', path, { empty: true }) };
}

function guarded<T>(read: () => T): Parsed<T> {
  try {
    return { ok: true, message: read() };
  } catch (err) {
    if (err instanceof FieldError) return { ok: false, reason: err.message };
    throw err;
  }
}

/** Reads a message a client sent. */
export function parseClientMessage(v: unknown): Parsed<ClientMessage> {
  return guarded((): ClientMessage => {
    const o = obj(v, 'message');
    const type = oneOf(o, 'type', 'message', ['subscribe', 'ack', 'nack'] as const);
    switch (type) {
      case 'subscribe': {
        const m: SubscribeMessage = { type, client: clientDescriptor(o['client'], 'message.client'), token: str(o, 'token', 'message') };
        if (o['resumeVersion'] !== undefined) m.resumeVersion = version(o, 'resumeVersion', 'message');
        return m;
      }
      case 'ack':
        return { type, version: version(o, 'version', 'message') };
      case 'nack':
        return { type, version: version(o, 'version', 'message'), errors: arr(o, 'errors', 'message', rejection) };
    }
  });
}

/**
 * Reads a message the server sent. The envelope must be well formed (type, version, arrays,
 * removal references); the resources are left for the proxy's mutator to validate.
 */
export function parseServerMessage(v: unknown): Parsed<ReceivedServerMessage> {
  return guarded((): ReceivedServerMessage => {
    const o = obj(v, 'message');
    const type = oneOf(o, 'type', 'message', ['snapshot', 'delta', 'error'] as const);
    switch (type) {
      case 'snapshot': {
        const items = o['resources'];
        if (!Array.isArray(items)) throw new FieldError('message.resources', 'must be an array');
        return { type, version: version(o, 'version', 'message'), resources: items as unknown[] };
      }
      case 'delta': {
        const items = o['updated'];
        if (!Array.isArray(items)) throw new FieldError('message.updated', 'must be an array');
        const removed = arr(o, 'removed', 'message', parseResourceRef);
        return { type, version: version(o, 'version', 'message'), updated: items as unknown[], removed };
      }
      case 'error':
        return { type, code: str(o, 'code', 'message'), message: str(o, 'message', 'message', { empty: true }) };
    }
  });
}
