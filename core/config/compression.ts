// Compressed push frames: a server message as raw DEFLATE (RFC 1951) of its JSON, sent as a
// binary WebSocket frame to clients that asked for it on the upgrade request. The controller
// deflates each distinct frame once and writes the same bytes to every such client; ws's
// permessage-deflate stays off, since it compresses once per connection. Clients that did not
// ask (older proxies, the CLI) keep getting JSON text frames.
import { deflateRawSync, inflateRawSync } from 'node:zlib';
import type { Parsed } from './protocol.ts';

/** Upgrade request header by which a client accepts deflated binary frames; the server echoes it when it will send them. */
export const PUSH_COMPRESSION_HEADER = 'x-weft-push-compression';
export const PUSH_COMPRESSION_DEFLATE = 'deflate';
/** Frames smaller than this stay text even for clients that accept deflated ones: too little to save. */
export const MIN_DEFLATED_FRAME_BYTES = 1024;
// Level 1: a 5 MB snapshot in ≈ 10 ms for ≈ 8 % of its size; higher levels take 2–3 × as long
// for a few more percent.
const LEVEL = 1;

/** Whether an upgrade request's header value lists deflate (a comma-separated list, any case). */
export function acceptsDeflate(header: string | string[] | undefined): boolean {
  const values = Array.isArray(header) ? header : header === undefined ? [] : [header];
  return values.some((v) => v.split(',').some((t) => t.trim().toLowerCase() === PUSH_COMPRESSION_DEFLATE));
}

/** The frame's deflated bytes, or undefined when it is small or would not shrink (send it as text). */
export function deflateFrame(text: Buffer): Buffer | undefined {
  if (text.length < MIN_DEFLATED_FRAME_BYTES) return undefined;
  const out = deflateRawSync(text, { level: LEVEL });
  return out.length < text.length ? out : undefined;
}

/**
 * The JSON bytes of a deflated frame. Output is capped at `maxBytes`: inflating stops soon
 * after it (within one output chunk), so a small frame that would inflate to gigabytes costs
 * at most about twice `maxBytes` of memory.
 */
export function inflateFrame(data: Buffer, maxBytes: number): Parsed<Buffer> {
  // Output chunks sized for a JSON snapshot's ratio (≈ 12:1 at level 1): a whole snapshot fits
  // in one, which spares zlib gathering and copying hundreds of 16 KB chunks (≈ 35 % of the time).
  const chunkSize = Math.max(64 * 1024, Math.min(16 * data.length, maxBytes));
  try {
    return { ok: true, message: inflateRawSync(data, { maxOutputLength: maxBytes, chunkSize }) };
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    if (code === 'ERR_BUFFER_TOO_LARGE') return { ok: false, reason: `compressed frame inflates to more than ${maxBytes} bytes` };
    return { ok: false, reason: `compressed frame is not valid deflate data: ${err instanceof Error ? err.message : String(err)}` };
  }
}
