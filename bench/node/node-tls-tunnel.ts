// The smallest mutual-TLS tunnel Node.js can be: what stunnel does, in the runtime weft uses,
// so the node benchmark can show what each figure costs in Node before any of weft's code. No HTTP/2, no
// config, no metrics: one TCP ↔ TLS pipe per connection, both legs TCP_NODELAY.
//   node bench/node/node-tls-tunnel.ts CONFIG.json
// CONFIG: { client, certFile, keyFile, caFile, services: [{ name, accept, connect }] } (the
// stunnel mode's layout, bench/node/modes/tunnel-pair.ts). The client side listens in plain TCP
// and dials TLS; the server side the reverse. Prints "ready" once every service listens.
import { readFileSync } from 'node:fs';
import net from 'node:net';
import tls from 'node:tls';
import { STUNNEL_CIPHERSUITES } from './modes/stunnel-config.ts';
import type { TunnelIdentity, TunnelService } from './modes/tunnel-pair.ts';

type Config = TunnelIdentity & { client: boolean; services: TunnelService[] };

const path = process.argv[2];
if (path === undefined) {
  process.stderr.write('usage: node-tls-tunnel.ts CONFIG.json\n');
  process.exit(2);
}
const cfg = JSON.parse(readFileSync(path, 'utf8')) as Config;
const secure = {
  cert: readFileSync(cfg.certFile), key: readFileSync(cfg.keyFile), ca: readFileSync(cfg.caFile),
  minVersion: 'TLSv1.3' as const, ciphers: STUNNEL_CIPHERSUITES,
};

function hostPort(s: string): { host: string; port: number } {
  const i = s.lastIndexOf(':');
  return { host: s.slice(0, i), port: Number(s.slice(i + 1)) };
}

function join(a: net.Socket, b: net.Socket): void {
  a.setNoDelay(true);
  b.setNoDelay(true);
  a.pipe(b).on('error', () => a.destroy());
  b.pipe(a).on('error', () => b.destroy());
  a.on('error', () => b.destroy());
  b.on('error', () => a.destroy());
  a.on('close', () => b.destroy());
  b.on('close', () => a.destroy());
}

const listening = cfg.services.map((s) => {
  const to = hostPort(s.connect);
  const at = hostPort(s.accept);
  const server = cfg.client
    ? net.createServer((down) => {
      // The chain is checked against the mesh root, as stunnel's verifyChain; no name check.
      join(down, tls.connect({ ...secure, ...to, checkServerIdentity: () => undefined }));
    })
    : tls.createServer({ ...secure, requestCert: true, rejectUnauthorized: true }, (down) => {
      join(down, net.connect(to));
    });
  return new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(at.port, at.host, () => resolve());
  });
});
await Promise.all(listening);
process.stdout.write('ready\n');
process.on('SIGTERM', () => process.exit(0));
