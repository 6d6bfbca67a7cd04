// HTTP/2 flow-control and framing settings for HBONE sessions. Node's defaults (64 KiB
// windows) cap a tunnel far below what TLS can carry; the values below were chosen with
// bench/hbone/throughput.ts (see bench/README.md, "HBONE transport"); the relay with
// bench/node/run.ts on the embedded cluster (see "Node to node").
import type { RelayStrategy } from '#core/hbone/relay.ts';

export interface HboneTuning {
  /** SETTINGS_INITIAL_WINDOW_SIZE: per-stream receive window. */
  streamWindow: number;
  /** Connection-level receive window (session.setLocalWindowSize). */
  connectionWindow: number;
  /** SETTINGS_MAX_FRAME_SIZE we accept. */
  maxFrameSize: number;
  /** Bytes of memory (MiB) nghttp2 may buffer per session before refusing new streams. */
  maxSessionMemoryMb: number;
  /** How the server moves bytes between a CONNECT stream and the upstream. */
  relay: RelayStrategy;
}

export const defaultTuning: HboneTuning = {
  streamWindow: 4 * 1024 * 1024,
  connectionWindow: 16 * 1024 * 1024,
  maxFrameSize: 16 * 1024,
  maxSessionMemoryMb: 64,
  relay: 'batched',
};

export const DEFAULT_MAX_STREAMS = 100;

/**
 * What a server allows beyond what a pool places on one session. A client counts a stream as
 * gone when it has sent its last frame; the server frees it only once that frame arrives, so
 * a pool at its limit would otherwise open stream 101 while the server still counts 100 and
 * is refused (Node's nghttp2 then closes the session after enough refusals).
 */
export const SERVER_STREAM_HEADROOM = 100;
