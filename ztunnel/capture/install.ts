// Installs, removes and checks in-pod capture in one network namespace: iptables through one
// atomic iptables-restore per change, and the reply route through one `ip -batch`.
import { errorMessage } from '#core/errors.ts';
import { ROUTE_TABLE_ZTUNNEL } from '#core/ports.ts';
import { hooksComplete, parseWeftRuleState, type WeftRuleState } from './rule-state.ts';
import { renderCaptureRemoval, renderCaptureRules, type CaptureRuleOptions } from './rules.ts';
import { countMarkRules, hasLocalRoute, routingChanges, type RoutingState } from './routing.ts';
import { runInNetns } from './run.ts';

const RESTORE = ['iptables-restore', '--noflush', '--wait=10'];

async function ruleState(netnsPath: string): Promise<WeftRuleState> {
  return parseWeftRuleState(await runInNetns(netnsPath, ['iptables-save']));
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text === '' ? '[]' : text);
  } catch {
    return [];
  }
}

async function routingState(netnsPath: string): Promise<RoutingState> {
  const rules = parseJson(await runInNetns(netnsPath, ['ip', '-j', '-4', 'rule', 'show']));
  // A table that never held a route does not exist yet, and ip says so with an error.
  const routes = parseJson(await runInNetns(netnsPath, ['ip', '-j', '-4', 'route', 'show', 'table', String(ROUTE_TABLE_ZTUNNEL)])
    .catch((err: unknown) => {
      if (/table does not exist/i.test(errorMessage(err))) return '[]';
      throw err;
    }));
  return { rules: countMarkRules(rules), route: hasLocalRoute(routes) };
}

async function applyRouting(netnsPath: string, want: boolean): Promise<void> {
  const changes = routingChanges(await routingState(netnsPath), want);
  if (changes.length > 0) await runInNetns(netnsPath, ['ip', '-4', '-batch', '-'], `${changes.join('\n')}\n`);
}

/** Installs capture (idempotent: a second install replaces the first). Rolls back on failure. */
export async function installCapture(netnsPath: string, opts: CaptureRuleOptions = {}): Promise<void> {
  const present = await ruleState(netnsPath);
  const rules = renderCaptureRules(opts, present);
  try {
    await runInNetns(netnsPath, RESTORE, rules);
    await applyRouting(netnsPath, true);
  } catch (err) {
    await removeCapture(netnsPath).catch((cleanupErr: unknown) => {
      if (err instanceof Error) err.message += ` (and rollback failed: ${errorMessage(cleanupErr)})`;
    });
    throw err;
  }
}

/** Removes every WEFT_ chain and jump, the fwmark rule and table 100's route. Idempotent. */
export async function removeCapture(netnsPath: string): Promise<void> {
  const removal = renderCaptureRemoval(await ruleState(netnsPath));
  if (removal !== undefined) await runInNetns(netnsPath, RESTORE, removal);
  await applyRouting(netnsPath, false);
}

/**
 * Lets a closing listener hand its not-yet-accepted connections to another listener of its
 * SO_REUSEPORT group (net.ipv4.tcp_migrate_req, Linux 5.14+, per namespace): during an
 * upgrade the old ztunnel's listeners close while the new one's take over, and nothing
 * queued on the old ones is reset. Affects only listeners that share a port by SO_REUSEPORT.
 */
export async function enableListenerMigration(netnsPath: string): Promise<void> {
  // /proc/sys/net answers for the writer's namespace; sh rather than sysctl(8), which images lack.
  await runInNetns(netnsPath, ['sh', '-c', 'echo 1 > /proc/sys/net/ipv4/tcp_migrate_req']);
}

/** True when the hooks, chains, fwmark rule and reply route are all in place. */
export async function captureInstalled(netnsPath: string): Promise<boolean> {
  if (!hooksComplete(await ruleState(netnsPath))) return false;
  const routing = await routingState(netnsPath);
  return routing.rules > 0 && routing.route;
}
