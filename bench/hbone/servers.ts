// The server side of the HBONE benchmark: a discard sink and an echo (the "apps"), a plain
// mutual-TLS tunnel in front of each, and an HBONE server. Started in-process by
// throughput.ts, or as a child process (`--split`, and later inside another network
// namespace): run as a script it reads its certificates as JSON on stdin and prints the
// ports it bound as one JSON line.
import net from 'node:net';
import tls from 'node:tls';
import type { AddressInfo } from 'node:net';
import type { WorkloadCertificate } from '#core/certs/types.ts';
import { HboneServer } from '#core/hbone/server.ts';
import type { HboneTuning } from '#core/hbone/settings.ts';
import { HBONE_ALPN, HBONE_CIPHERSUITES } from '#core/hbone/tls-context.ts';

export interface ServerPorts {
  sink: number;
  echo: number;
  tlsSink: number;
  tlsEcho: number;
  hbone: number;
}

export interface RunningServers {
  ports: ServerPorts;
  close(): Promise<void>;
}

function listen(server: net.Server, host: string): Promise<number> {
  return new Promise((resolve) => server.listen(0, host, () => resolve((server.address() as AddressInfo).port)));
}

function dial(host: string, port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host, port, allowHalfOpen: true, noDelay: true }, () => {
      s.off('error', reject);
      resolve(s);
    });
    s.once('error', reject);
  });
}

export async function startServers(opts: { cert: WorkloadCertificate; host: string; tuning?: Partial<HboneTuning> }): Promise<RunningServers> {
  const { host } = opts;
  const sockets = new Set<net.Socket>();
  const track = (s: net.Socket): void => {
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
    s.on('error', () => undefined);
  };
  // Discards, and closes its side once the client is done: the client times until that end.
  const sink = net.createServer({ allowHalfOpen: true, noDelay: true }, (s) => {
    track(s);
    s.on('data', () => undefined);
    s.once('end', () => s.end());
  });
  const echo = net.createServer({ allowHalfOpen: true, noDelay: true }, (s) => {
    track(s);
    s.pipe(s);
  });
  const sinkPort = await listen(sink, host);
  const echoPort = await listen(echo, host);
  const tlsOptions: tls.TlsOptions = {
    key: opts.cert.keyPem, cert: opts.cert.certPem, ca: opts.cert.rootsPem, requestCert: true, rejectUnauthorized: true,
    minVersion: 'TLSv1.3', ciphers: HBONE_CIPHERSUITES, ALPNProtocols: HBONE_ALPN, allowHalfOpen: true,
  };
  const tunnel = (target: number): tls.Server => tls.createServer(tlsOptions, (s) => {
    track(s);
    dial(host, target).then((up) => {
      track(up);
      s.pipe(up);
      up.pipe(s);
    }, () => s.destroy());
  });
  const tlsSink = tunnel(sinkPort);
  const tlsEcho = tunnel(echoPort);
  // Handshakes that never complete are tracked from the raw connection.
  tlsSink.on('connection', track);
  tlsEcho.on('connection', track);
  const hbone = new HboneServer({
    trustDomain: 'cluster.local',
    certificateFor: async () => opts.cert,
    connectUpstream: (t) => dial(t.host, t.port),
    ...(opts.tuning === undefined ? {} : { limits: { tuning: opts.tuning } }),
  });
  const ports: ServerPorts = {
    sink: sinkPort, echo: echoPort, tlsSink: await listen(tlsSink, host), tlsEcho: await listen(tlsEcho, host),
    hbone: (await hbone.listen(0, host)).port,
  };
  return {
    ports,
    close: async () => {
      await hbone.close(0);
      for (const s of sockets) s.destroy();
      // Not waiting for close callbacks: a TLS server counts raw sockets whose handles TLS took over.
      for (const srv of [sink, echo, tlsSink, tlsEcho]) srv.close();
    },
  };
}

function isCert(v: unknown): v is WorkloadCertificate {
  return typeof v === 'object' && v !== null && typeof (v as { certPem?: unknown }).certPem === 'string'
    && typeof (v as { keyPem?: unknown }).keyPem === 'string' && Array.isArray((v as { rootsPem?: unknown }).rootsPem);
}

if (import.meta.main) {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  const input: unknown = JSON.parse(Buffer.concat(chunks).toString());
  const o = (input ?? {}) as { cert?: unknown; host?: unknown; tuning?: Partial<HboneTuning> };
  if (!isCert(o.cert) || typeof o.host !== 'string') throw new Error('servers.ts: stdin must be {"cert": WorkloadCertificate, "host": string}');
  const running = await startServers({ cert: o.cert, host: o.host, ...(o.tuning === undefined ? {} : { tuning: o.tuning }) });
  process.stdout.write(JSON.stringify(running.ports) + '\n');
  process.on('SIGTERM', () => void running.close().then(() => process.exit(0)));
}
