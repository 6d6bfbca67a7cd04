// Connections from inside a pod to the echo app: connect, send a few bytes, read them back.
// openEcho keeps the connection (long-lived connections); echoExchange closes it first once
// echoed (short connections). Both reject on a refused or reset connection, a close before
// the echo, or no echo within the timeout.
import type net from 'node:net';
import type { LocalPod } from '#local/pod.ts';
import { connectInNetns } from '#ztunnel/native/index.ts';

const PING = 'ping';

export interface OpenEcho {
  socket: net.Socket;
  /** From the call to the echo of the first bytes. */
  ms: number;
}

/** An open connection that has carried one echo; the caller owns the socket from then on. */
export function openEcho(client: LocalPod, host: string, port: number, timeoutMs: number): Promise<OpenEcho> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    let socket: net.Socket | undefined;
    const fail = (err: Error): void => {
      clearTimeout(timer);
      socket?.destroy();
      reject(err);
    };
    const timer = setTimeout(() => fail(new Error('timed out')), timeoutMs);
    connectInNetns(client.netnsPath, { host, port, timeoutMs }).then((s) => {
      socket = s;
      let got = 0;
      const onData = (b: Buffer): void => {
        got += b.length;
        if (got < PING.length) return;
        clearTimeout(timer);
        s.off('data', onData).off('error', fail).off('close', onClose);
        resolve({ socket: s, ms: performance.now() - started });
      };
      const onClose = (): void => fail(new Error('closed before the echo'));
      s.on('data', onData).on('error', fail).once('close', onClose);
      s.write(PING);
    }, (err: unknown) => fail(err instanceof Error ? err : new Error(String(err))));
  });
}

/** One short connection: echoed, then closed by the client first. Resolves with ms to the echo. */
export async function echoExchange(client: LocalPod, host: string, port: number, timeoutMs: number): Promise<number> {
  const { socket, ms } = await openEcho(client, host, port, timeoutMs);
  await new Promise<void>((resolve) => {
    socket.on('error', () => undefined);
    socket.once('close', () => resolve());
    socket.end();
  });
  return ms;
}
