// The backends of the nginx/HAProxy runs: the mesh's echo app (same handler, so the same
// 1 KiB answers) served over TLS 1.3, because those proxies carry TLS on both sides as the
// waypoint carries HBONE. Two listeners: one requires a client certificate signed by the
// bench CA (what the proxies dial), one does not (what h2load, which cannot present one,
// dials for the no-proxy baseline). Prints "ready" once both listen.
//   node bench/waypoint/tls-echo.ts --cert F --key F --ca F --host IP --mtls-port 8443 --tls-port 8444
import https from 'node:https';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { handleHttp } from '#local/apps/echo.ts';
import { TLS13_SUITES } from '#bench/waypoint/proxy-configs.ts';

const { values } = parseArgs({
  options: {
    cert: { type: 'string' }, key: { type: 'string' }, ca: { type: 'string' }, host: { type: 'string', default: '0.0.0.0' },
    'mtls-port': { type: 'string', default: '8443' }, 'tls-port': { type: 'string', default: '8444' },
  },
});
if (values.cert === undefined || values.key === undefined || values.ca === undefined) throw new Error('tls-echo: --cert, --key and --ca are required');

const base: https.ServerOptions = {
  cert: readFileSync(values.cert), key: readFileSync(values.key), ca: readFileSync(values.ca),
  minVersion: 'TLSv1.3', ciphers: TLS13_SUITES, keepAliveTimeout: 60_000,
};
const mtls = https.createServer({ ...base, requestCert: true, rejectUnauthorized: true }, handleHttp);
const tls = https.createServer({ ...base, requestCert: false }, handleHttp);
// Small answers must not wait for Nagle (every hop of the mesh sets no-delay too).
for (const s of [mtls, tls]) s.on('secureConnection', (socket) => socket.setNoDelay(true));
mtls.listen(Number(values['mtls-port']), values.host);
tls.listen(Number(values['tls-port']), values.host);
await Promise.all([once(mtls, 'listening'), once(tls, 'listening')]);
process.stdout.write('ready\n');
const shutdown = (): void => {
  for (const s of [mtls, tls]) {
    s.close();
    s.closeAllConnections();
  }
  process.exit(0);
};
process.once('SIGTERM', shutdown);
process.once('SIGINT', shutdown);
