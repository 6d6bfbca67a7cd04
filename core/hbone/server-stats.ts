// Counters of an HBONE server, read by the ztunnel / waypoint to feed Istio's metrics.
// Plain numbers: incrementing one is free on the hot path.

export interface HboneServerStats {
  connectionsAccepted: number;
  connectionsActive: number;
  /** Handshakes that failed: bad chain, expired / not-yet-valid, foreign CA, timeout, protocol. */
  tlsFailures: number;
  /** Handshakes that verified but whose certificate has no SPIFFE id of the trust domain. */
  peerIdentityRejected: number;
  streamsActive: number;
  tunnelsOpened: number;
  tunnelsClosed: number;
  /** 400 answers (not CONNECT, bad authority). */
  badRequests: number;
  /** 401 answers. */
  denied: number;
  /** 503 answers. */
  upstreamFailures: number;
  bytesToUpstream: number;
  bytesToTunnel: number;
}

export function emptyServerStats(): HboneServerStats {
  return {
    connectionsAccepted: 0, connectionsActive: 0, tlsFailures: 0, peerIdentityRejected: 0, streamsActive: 0,
    tunnelsOpened: 0, tunnelsClosed: 0, badRequests: 0, denied: 0, upstreamFailures: 0, bytesToUpstream: 0, bytesToTunnel: 0,
  };
}
