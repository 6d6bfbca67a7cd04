// What nodes and pods share: a named netns, and running programs inside it through
// `ip netns exec`, tracked so the cluster can stop them all.
import { runCommand, type ExecOptions, type ExecResult } from './run.ts';
import { LocalProcess, type SpawnOptions } from './process.ts';

export const NETNS_DIR = '/var/run/netns';

/** Where started processes are reported, so the cluster stops them with itself. */
export type ProcessTracker = (proc: LocalProcess) => void;

export class NetnsMember {
  /** The name `ip netns` knows it by. */
  readonly netns: string;
  /** The bind-mounted netns file, for setns(2) or `nsenter --net=`. */
  readonly netnsPath: string;
  readonly #track: ProcessTracker;
  readonly #label: string;

  constructor(netns: string, label: string, track: ProcessTracker) {
    this.netns = netns;
    this.netnsPath = `${NETNS_DIR}/${netns}`;
    this.#label = label;
    this.#track = track;
  }

  /** Runs cmd (argv, no shell) inside the netns to completion; never throws on a non-zero exit. */
  exec(cmd: readonly string[], opts: ExecOptions = {}): Promise<ExecResult> {
    return runCommand('ip', ['netns', 'exec', this.netns, ...cmd], opts);
  }

  /** Starts a long-running cmd inside the netns; the cluster stops it on stop() at the latest. */
  spawn(cmd: readonly string[], opts: SpawnOptions & { label?: string } = {}): LocalProcess {
    const label = opts.label ?? `${this.#label}:${cmd[0] ?? ''}`;
    const proc = new LocalProcess('ip', ['netns', 'exec', this.netns, ...cmd], label, opts);
    this.#track(proc);
    return proc;
  }
}
