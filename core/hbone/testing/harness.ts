// Helpers for HBONE tests and benchmarks: echo and scripted upstreams on loopback, an
// upstream dialer that keeps half-close, and a reader that collects a stream to its end.
import net from 'node:net';
import type { Duplex } from 'node:stream';
import type { AddressInfo } from 'node:net';

export interface TestServer {
  port: number;
  sockets: Set<net.Socket>;
  close(): Promise<void>;
}

/** A TCP server on 127.0.0.1:0 that keeps half-open connections and runs `onSocket` on each. */
export async function tcpServer(onSocket: (s: net.Socket) => void, host = '127.0.0.1'): Promise<TestServer> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer({ allowHalfOpen: true, noDelay: true }, (s) => {
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
    s.on('error', () => undefined);
    onSocket(s);
  });
  await new Promise<void>((r) => server.listen(0, host, r));
  return {
    port: (server.address() as AddressInfo).port,
    sockets,
    close: () => {
      for (const s of sockets) s.destroy();
      return new Promise((r) => server.close(() => r()));
    },
  };
}

/** Echoes everything back and ends its side when the client ends. */
export function echoServer(host = '127.0.0.1'): Promise<TestServer> {
  return tcpServer((s) => s.pipe(s), host);
}

/** A port on 127.0.0.1 nothing listens on (bound then released). */
export async function closedPort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const { port } = s.address() as AddressInfo;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

/** Dials the target and resolves once connected, with half-close kept. */
export function dialUpstream(target: { host: string; port: number }): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host: target.host, port: target.port, allowHalfOpen: true, noDelay: true });
    s.once('connect', () => {
      s.off('error', reject);
      resolve(s);
    });
    s.once('error', reject);
  });
}

/** Everything a readable side delivers until its end. */
export function readAll(stream: Duplex): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.once('end', () => resolve(Buffer.concat(chunks)));
    stream.once('error', reject);
  });
}

export function waitFor(check: () => boolean, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  return new Promise((resolve, reject) => {
    const tick = (): void => {
      if (check()) resolve();
      else if (Date.now() > deadline) reject(new Error('condition not met in time'));
      else setTimeout(tick, 10);
    };
    tick();
  });
}
