// What the HBONE server knows about a connection and about one CONNECT request; handed to
// authorization, upstream dialing and tunnel events.
import type { HostPort } from '#core/hbone/authority.ts';
import type { HboneHeaders } from '#core/hbone/headers.ts';
import type { ResponseFlag } from '#core/hbone/errors.ts';

export interface HboneConnectionInfo {
  readonly connectionId: number;
  /** SPIFFE id from the verified client certificate's URI SAN. */
  readonly peerIdentity: string;
  readonly peerAddress: string;
  readonly peerPort: number;
  /** The accepted socket's local (destination) address, which chose the server certificate. */
  readonly localAddress: string;
  readonly localPort: number;
  /** The identity the server presented. */
  readonly localIdentity: string;
}

export interface HboneRequestContext extends HboneConnectionInfo {
  readonly streamId: number;
  /** Parsed `:authority`. */
  readonly target: HostPort;
  readonly headers: Readonly<HboneHeaders>;
}

export type AuthorizeResult = { allow: true } | { allow: false; reason: string };

export type HboneServerEvent =
  | { type: 'tunnel_open'; ctx: HboneRequestContext }
  | {
    type: 'tunnel_close'; ctx: HboneRequestContext; status: 200; responseFlags: ResponseFlag;
    bytesToUpstream: number; bytesToTunnel: number; durationMs: number; error?: string;
    /** Which side broke first, when the tunnel did not end cleanly. */
    broken?: 'tunnel' | 'upstream';
  }
  | {
    type: 'tunnel_rejected'; connection: HboneConnectionInfo; ctx?: HboneRequestContext; status: 400 | 401 | 503;
    responseFlags: ResponseFlag; code: string; reason: string;
  }
  | {
    type: 'handshake_failed'; peerAddress: string; peerPort: number; localAddress: string; localPort: number;
    responseFlags: 'TLS_FAILURE'; code: string; reason: string;
  };
