// Test fixture: throwaway network namespaces, links and commands for the root-only tests of
// ztunnel's native sockets and capture. Everything it creates is removed by dispose().
import { execFile } from 'node:child_process';
import { once } from 'node:events';
import type net from 'node:net';
import { statSync } from 'node:fs';
import { promisify } from 'node:util';

const exec = promisify(execFile);

export const isRoot = process.getuid?.() === 0;

/** Runs a command; rejects with its stderr in the message. */
export async function sh(file: string, args: readonly string[]): Promise<string> {
  try {
    const { stdout } = await exec(file, args, { encoding: 'utf8' });
    return stdout;
  } catch (err) {
    const stderr: unknown = typeof err === 'object' && err !== null ? Reflect.get(err, 'stderr') : undefined;
    throw new Error(`${file} ${args.join(' ')} failed: ${typeof stderr === 'string' ? stderr.trim() : String(err)}`, { cause: err });
  }
}

/** Runs a command inside a named namespace. */
export async function inNetns(name: string, file: string, args: readonly string[]): Promise<string> {
  return sh('ip', ['netns', 'exec', name, file, ...args]);
}

/** Inode of this thread's network namespace: tells whether a call left the thread elsewhere. */
/** Everything a socket sends until it ends, as text. */
export async function readAll(socket: net.Socket): Promise<string> {
  let text = '';
  socket.setEncoding('utf8');
  socket.on('data', (chunk: string) => { text += chunk; });
  await once(socket, 'end');
  return text;
}

export function threadNetnsInode(): number {
  return statSync('/proc/thread-self/ns/net').ino;
}

export class NetnsFixture {
  readonly #names: string[] = [];
  readonly #prefix: string;

  constructor(tag: string) {
    // Short and unique per process: interface names are limited to 15 characters.
    this.#prefix = `w${tag}${process.pid % 100000}`;
  }

  /** Creates a namespace with lo up; returns its name and path. */
  async add(suffix: string): Promise<{ name: string; path: string }> {
    const name = `${this.#prefix}${suffix}`;
    await sh('ip', ['netns', 'add', name]);
    this.#names.push(name);
    await sh('ip', ['-n', name, 'link', 'set', 'lo', 'up']);
    return { name, path: `/var/run/netns/${name}` };
  }

  /** A veth pair between two namespaces, with an address (CIDR) on each end. */
  async veth(a: { ns: string; address: string }, b: { ns: string; address: string }): Promise<void> {
    const left = `${this.#prefix}a`;
    const right = `${this.#prefix}b`;
    await sh('ip', ['link', 'add', left, 'netns', a.ns, 'type', 'veth', 'peer', 'name', right, 'netns', b.ns]);
    for (const [ns, dev, address] of [[a.ns, left, a.address], [b.ns, right, b.address]] as const) {
      await sh('ip', ['-n', ns, 'addr', 'add', address, 'dev', dev]);
      await sh('ip', ['-n', ns, 'link', 'set', dev, 'up']);
    }
  }

  /** Deletes every namespace made here (links, rules and routes inside go with them). */
  async dispose(): Promise<void> {
    for (const name of this.#names.splice(0)) {
      await sh('ip', ['netns', 'del', name]).catch(() => undefined);
    }
  }
}
