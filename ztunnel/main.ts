// The ztunnel process: parse config, start, report, and shut down cleanly on SIGTERM/SIGINT
// or /quitquitquit.
//   node ztunnel/main.ts --node node1 --controller https://10.96.0.2:15012 --token-file … --root-cert …
//   node ztunnel/main.ts --node node1 --config-file ./mesh.json --ca-dir /tmp/weft-ca
import { errorMessage } from '#core/errors.ts';
import { Logger } from '#core/log.ts';
import { parseZtunnelConfig } from '#ztunnel/config.ts';
import { startFromConfig, type RunningZtunnel } from '#ztunnel/start.ts';

async function main(): Promise<void> {
  const cfg = parseZtunnelConfig(process.argv.slice(2), process.env);
  const logger = new Logger({ level: cfg.logLevel, fields: { component: 'ztunnel', node: cfg.node } });
  const holder: { running?: RunningZtunnel } = {};
  let stopping = false;
  const stop = (why: string): void => {
    if (stopping) return;
    stopping = true;
    logger.info('shutting down', { why });
    const done = holder.running === undefined ? Promise.resolve() : holder.running.close();
    done.then(() => process.exit(0), (err: unknown) => {
      logger.error('shutdown failed', { err: errorMessage(err) });
      process.exit(1);
    });
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  const running = await startFromConfig(cfg, logger, { onQuit: () => stop('/quitquitquit') });
  holder.running = running;
  logger.info('ztunnel ready to serve', { admin: running.ztunnel.adminPorts, source: cfg.source.kind });
  process.stdout.write('ready\n');
}

main().catch((err: unknown) => {
  process.stderr.write(`ztunnel: ${errorMessage(err)}\n`);
  process.exit(1);
});
