// Runs a command inside a network namespace (nsenter --net), feeding stdin; failures become
// WEFT_ERR_CAPTURE with the command's stderr. Used at enrollment only, never per connection.
import { execFile } from 'node:child_process';
import { WeftError } from '#core/errors.ts';

const TIMEOUT_MS = 15_000;

export async function runInNetns(netnsPath: string, command: readonly string[], input?: string): Promise<string> {
  const args = [`--net=${netnsPath}`, ...command];
  return new Promise<string>((resolve, reject) => {
    const child = execFile('nsenter', args, { encoding: 'utf8', timeout: TIMEOUT_MS, maxBuffer: 64 << 20 }, (err, stdout, stderr) => {
      if (err === null) {
        resolve(stdout);
        return;
      }
      const why = stderr.trim() === '' ? err.message : stderr.trim();
      reject(new WeftError('WEFT_ERR_CAPTURE', `${command.join(' ')} in ${netnsPath} failed: ${why}`, {
        hint: 'capture needs root (CAP_NET_ADMIN, CAP_SYS_ADMIN), nsenter, iproute2 and iptables with the nat and mangle tables',
        cause: err,
      }));
    });
    // A command that exits early must not crash us with EPIPE on its stdin.
    child.stdin?.on('error', () => undefined);
    child.stdin?.end(input ?? '');
  });
}
