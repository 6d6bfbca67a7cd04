// Starts the sample echo app (apps/echo.ts) inside a pod and waits until it listens.
import { fileURLToPath } from 'node:url';
import type { LocalPod } from './pod.ts';
import type { LocalProcess } from './process.ts';

export const ECHO_APP = fileURLToPath(new URL('./apps/echo.ts', import.meta.url));
export const ECHO_HTTP_PORT = 8080;
export const ECHO_TCP_PORT = 9000;

export interface EchoOptions {
  readonly http?: number;
  readonly tcp?: number;
  /** Default 10 s. */
  readonly readyTimeoutMs?: number;
  /** Copy the app's output to stderr. */
  readonly echo?: boolean;
}

/** Runs the echo app in pod (POD_NAME set to the pod's name); resolves once it printed "ready". */
export async function startEcho(pod: LocalPod, opts: EchoOptions = {}): Promise<LocalProcess> {
  const proc = pod.spawn(
    [process.execPath, ECHO_APP, '--http', String(opts.http ?? ECHO_HTTP_PORT), '--tcp', String(opts.tcp ?? ECHO_TCP_PORT)],
    {
      env: { POD_NAME: pod.name, POD_NAMESPACE: pod.namespace, POD_IP: pod.ip, NODE_NAME: pod.node },
      label: `${pod.namespace}/${pod.name}:echo`,
      ...(opts.echo === undefined ? {} : { echo: opts.echo }),
    },
  );
  try {
    await proc.waitForLine('ready', opts.readyTimeoutMs ?? 10_000);
  } catch (err) {
    await proc.stop();
    throw err;
  }
  return proc;
}
