// The waypoint process: parse config, start, report, and shut down cleanly on SIGTERM/SIGINT
// or /quitquitquit.
//   node waypoint/main.ts --namespace shop --name waypoint --controller https://10.96.0.2:15010 --token-file … --root-cert …
import { errorMessage } from '#core/errors.ts';
import { runUntilStopped } from '#core/lifecycle.ts';
import { Logger } from '#core/log.ts';
import { parseWaypointConfig } from '#waypoint/config.ts';
import { startWaypoint } from '#waypoint/start.ts';

async function main(): Promise<void> {
  const cfg = parseWaypointConfig(process.argv.slice(2), process.env);
  const logger = new Logger({ level: cfg.logLevel, fields: { component: 'waypoint', waypoint: `${cfg.namespace}/${cfg.name}` } });
  const running = await runUntilStopped(logger, (stop) => startWaypoint(cfg, logger, { onQuit: () => stop('/quitquitquit') }));
  logger.info('waypoint ready to serve', { hbone: running.waypoint.hbonePort, admin: running.waypoint.adminPorts });
  process.stdout.write('ready\n');
}

main().catch((err: unknown) => {
  process.stderr.write(`waypoint: ${errorMessage(err)}\n`);
  process.exit(1);
});
