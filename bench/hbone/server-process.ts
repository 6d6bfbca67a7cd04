// Runs servers.ts as a child process, optionally behind a command prefix such as
// `ip netns exec <pod-netns>`: certificates go in on stdin, the bound ports come back as the
// first stdout line.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { WorkloadCertificate } from '#core/certs/types.ts';
import type { HboneTuning } from '#core/hbone/settings.ts';
import type { ServerPorts } from '#bench/hbone/servers.ts';

export const SERVERS_SCRIPT = fileURLToPath(new URL('./servers.ts', import.meta.url));

export interface Endpoints {
  ports: ServerPorts;
  stop(): Promise<void>;
}

function isPorts(v: unknown): v is ServerPorts {
  if (typeof v !== 'object' || v === null) return false;
  return ['sink', 'echo', 'tlsSink', 'tlsEcho', 'hbone'].every((k) => typeof Reflect.get(v, k) === 'number');
}

export async function startServerProcess(opts: {
  cert: WorkloadCertificate;
  host: string;
  tuning?: Partial<HboneTuning> | undefined;
  /** argv placed before `node servers.ts`, e.g. ['ip', 'netns', 'exec', name]. */
  prefix?: readonly string[];
}): Promise<Endpoints> {
  const argv = [...(opts.prefix ?? []), process.execPath, SERVERS_SCRIPT];
  const child = spawn(argv[0] ?? process.execPath, argv.slice(1), { stdio: ['pipe', 'pipe', 'inherit'] });
  child.stdin.end(JSON.stringify({ cert: opts.cert, host: opts.host, tuning: opts.tuning }));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 2000);
    await exited;
    clearTimeout(timer);
  };
  try {
    const ports = await new Promise<ServerPorts>((resolve, reject) => {
      let buf = '';
      child.stdout.on('data', (c: Buffer) => {
        buf += c.toString();
        const nl = buf.indexOf('\n');
        if (nl < 0) return;
        const parsed: unknown = JSON.parse(buf.slice(0, nl));
        if (isPorts(parsed)) resolve(parsed);
        else reject(new Error(`servers.ts printed ${buf.slice(0, nl)}`));
      });
      child.once('error', reject);
      void exited.then(() => reject(new Error(`servers.ts exited with ${String(child.exitCode ?? child.signalCode)}`)));
    });
    return { ports, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
