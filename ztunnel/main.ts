// The ztunnel process: parse config, start, report, and shut down cleanly on SIGTERM/SIGINT
// or /quitquitquit.
//   node ztunnel/main.ts --node node1 --controller https://10.96.0.2:15010 --token-file … --root-cert …
//   node ztunnel/main.ts --node node1 --config-file ./mesh.json --ca-dir /tmp/weft-ca
import { errorMessage } from '#core/errors.ts';
import { runUntilStopped } from '#core/lifecycle.ts';
import { Logger } from '#core/log.ts';
import { parseZtunnelConfig } from '#ztunnel/config.ts';
import { startFromConfig } from '#ztunnel/start.ts';

async function main(): Promise<void> {
  const cfg = parseZtunnelConfig(process.argv.slice(2), process.env);
  const logger = new Logger({ level: cfg.logLevel, fields: { component: 'ztunnel', node: cfg.node } });
  const running = await runUntilStopped(logger, (stop) => startFromConfig(cfg, logger, { onQuit: () => stop('/quitquitquit') }));
  logger.info('ztunnel ready to serve', { admin: running.ztunnel.adminPorts, source: cfg.source.kind });
  process.stdout.write('ready\n');
}

main().catch((err: unknown) => {
  process.stderr.write(`ztunnel: ${errorMessage(err)}\n`);
  process.exit(1);
});
