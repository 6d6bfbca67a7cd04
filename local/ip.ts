// Thin runners for iproute2 and iptables-restore: every argument goes as argv or as batch
// input, never through a shell.
import { runChecked, runCommand } from './run.ts';

/** `ip [-n netns] -batch -` with the given lines; fails on the first failing line. */
export async function ipBatch(lines: readonly string[], netns?: string): Promise<void> {
  if (lines.length === 0) return;
  const args = netns === undefined ? ['-batch', '-'] : ['-n', netns, '-batch', '-'];
  await runChecked('ip', args, { input: lines.join('\n') + '\n' });
}

/** Like ipBatch but carries on past failing lines; for teardown, where some objects may be gone. */
export async function ipBatchForce(lines: readonly string[], netns?: string): Promise<void> {
  if (lines.length === 0) return;
  const args = netns === undefined ? ['-force', '-batch', '-'] : ['-n', netns, '-force', '-batch', '-'];
  await runCommand('ip', args, { input: lines.join('\n') + '\n' });
}

export async function sysctlIn(netns: string, settings: readonly string[]): Promise<void> {
  await runChecked('ip', ['netns', 'exec', netns, 'sysctl', '-qw', ...settings]);
}

export async function iptablesRestore(netns: string, rules: string): Promise<void> {
  await runChecked('ip', ['netns', 'exec', netns, 'iptables-restore', '--noflush', '-w'], { input: rules });
}

/** Names of every named netns (`ip netns list` prints "name (id: n)"). */
export async function listNetns(): Promise<string[]> {
  const res = await runCommand('ip', ['netns', 'list']);
  return res.stdout.split('\n').map((l) => l.split(' ')[0] ?? '').filter((n) => n !== '');
}

/** Links of the root netns. */
export async function listRootLinks(): Promise<string[]> {
  const res = await runCommand('ip', ['-o', 'link', 'show']);
  return res.stdout.split('\n')
    .map((l) => /^\d+:\s+([^:@\s]+)/.exec(l)?.[1])
    .filter((n): n is string => n !== undefined);
}

/** PIDs of the processes whose network namespace is netns. */
export async function netnsPids(netns: string): Promise<number[]> {
  const res = await runCommand('ip', ['netns', 'pids', netns]);
  return res.stdout.split('\n').map((l) => Number(l.trim())).filter((n) => Number.isInteger(n) && n > 0);
}
