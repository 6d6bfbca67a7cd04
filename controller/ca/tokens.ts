// Client tokens for local mode: each proxy gets a bearer token that names it (a ztunnel by its
// node, a waypoint by its identity) and is sealed with an HMAC under a key only the
// controller holds. The push server and the CA both learn who the caller is from it, so a
// ztunnel cannot subscribe as another node or ask for identities of pods it does not run.
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { chmod, mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { ClientDescriptor } from '#core/config/protocol.ts';
import { WeftError } from '#core/errors.ts';
import { parseSpiffeId } from '#core/identity/spiffe.ts';

/** Every token starts `weft1.`, which no JWT (`eyJ…`) does. */
export const CLIENT_TOKEN_PREFIX = 'weft1';
const PREFIX = CLIENT_TOKEN_PREFIX;
const NODE_NAME = /^[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?$/;

function b64(s: string | Buffer): string {
  return Buffer.from(s).toString('base64url');
}

function subjectOf(c: ClientDescriptor): string {
  return c.kind === 'ztunnel' ? c.node : c.identity;
}

export class ClientTokens {
  readonly #key: Buffer;

  constructor(key: Buffer) {
    if (key.length < 32) throw new WeftError('WEFT_ERR_CONFIG', 'client token key must be at least 32 bytes');
    this.#key = key;
  }

  /** Loads the key from `<stateDir>/token-key`, creating it (mode 0600) on first start. */
  static async open(stateDir: string): Promise<ClientTokens> {
    const path = join(stateDir, 'token-key');
    try {
      return new ClientTokens(Buffer.from((await readFile(path, 'utf8')).trim(), 'hex'));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    const key = randomBytes(32);
    await mkdir(stateDir, { recursive: true, mode: 0o700 });
    await writeAtomically(path, key.toString('hex') + '\n');
    return new ClientTokens(key);
  }

  #mac(kind: string, subject: string): Buffer {
    return createHmac('sha256', this.#key).update(`${PREFIX}\0${kind}\0${subject}`).digest();
  }

  /** The token for one client. */
  mint(client: ClientDescriptor): string {
    checkClient(client);
    const subject = subjectOf(client);
    return [PREFIX, client.kind, b64(subject), b64(this.#mac(client.kind, subject))].join('.');
  }

  /** The client a token names, or undefined for anything forged, truncated or malformed. */
  verify(token: string): ClientDescriptor | undefined {
    const parts = token.split('.');
    if (parts.length !== 4 || parts[0] !== PREFIX) return undefined;
    const [, kind = '', encodedSubject = '', encodedMac = ''] = parts;
    if (kind !== 'ztunnel' && kind !== 'waypoint') return undefined;
    const subject = Buffer.from(encodedSubject, 'base64url').toString('utf8');
    const given = Buffer.from(encodedMac, 'base64url');
    const expected = this.#mac(kind, subject);
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) return undefined;
    return kind === 'ztunnel' ? { kind, node: subject } : { kind, identity: subject };
  }

  /** Writes a client's token where the local launcher picks it up; returns the path. */
  async writeTokenFile(stateDir: string, client: ClientDescriptor): Promise<string> {
    const path = tokenFilePath(stateDir, client);
    await mkdir(dirname(path), { recursive: true, mode: 0o700 });
    await writeAtomically(path, this.mint(client) + '\n');
    return path;
  }
}

function checkClient(c: ClientDescriptor): void {
  if (c.kind === 'ztunnel') {
    if (!NODE_NAME.test(c.node)) throw new WeftError('WEFT_ERR_CONFIG', `not a valid node name: ${JSON.stringify(c.node)}`);
  } else {
    parseSpiffeId(c.identity);
  }
}

/** `<stateDir>/tokens/ztunnel/<node>.token` or `<stateDir>/tokens/waypoint/<namespace>/<sa>.token`. */
export function tokenFilePath(stateDir: string, client: ClientDescriptor): string {
  checkClient(client);
  if (client.kind === 'ztunnel') return join(stateDir, 'tokens', 'ztunnel', `${client.node}.token`);
  const id = parseSpiffeId(client.identity);
  return join(stateDir, 'tokens', 'waypoint', id.namespace, `${id.serviceAccount}.token`);
}

async function writeAtomically(path: string, text: string): Promise<void> {
  const tmp = `${path}.${process.pid}.tmp`;
  await writeFile(tmp, text, { mode: 0o600 });
  await chmod(tmp, 0o600);
  await rename(tmp, path);
}
