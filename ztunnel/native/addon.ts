// Loads the weft_native addon (build/Release/weft_native.node) and gives it types. Loading is
// lazy so that importing this module never fails on a machine where the addon is not built;
// the first call says how to build it.
import { createRequire } from 'node:module';
import { WeftError, errorMessage } from '#core/errors.ts';

export interface Endpoint {
  address: string;
  port: number;
}

/** Options of openSocketInNetns; addresses are IPv4 literals. */
export interface OpenSocketOptions {
  /** bind + listen (a listener); exclusive with bind. */
  listen?: { address: string; port: number; backlog?: number };
  /**
   * bind only (a client socket with a chosen source); port 0 or absent lets the kernel pick,
   * at connect() (IP_BIND_ADDRESS_NO_PORT), so that a busy source address costs no port search.
   */
  bind?: { address: string; port?: number };
  /** SO_MARK, so the capture rules skip the socket's packets. */
  mark?: number;
  /** IP_TRANSPARENT: bind to an address that is not local (the caller's, for the app). */
  transparent?: boolean;
  /** IP_FREEBIND: bind to an address not (yet) configured. */
  freebind?: boolean;
  reuseAddr?: boolean;
  /** SO_REUSEPORT: an old and a new ztunnel can share a listener during an upgrade. */
  reusePort?: boolean;
}

export interface NativeBinding {
  /** Creates a non-blocking IPv4 TCP socket inside the namespace (null: the current one). */
  openSocketInNetns(netnsPath: string | null, opts: OpenSocketOptions): number;
  getOriginalDst(fd: number): Endpoint;
  setMark(fd: number, mark: number): void;
  getMark(fd: number): number;
  setTransparent(fd: number): void;
  /** Whether IP_BIND_ADDRESS_NO_PORT is set; throws ENOPROTOOPT where the kernel lacks it. */
  getBindAddressNoPort(fd: number): boolean;
  /** glibc malloc_trim(0): gives freed heap memory back to the kernel; true when some was. */
  trimMemory(): boolean;
}

const ADDON_PATH = './build/Release/weft_native.node';
const FUNCTIONS = ['openSocketInNetns', 'getOriginalDst', 'setMark', 'getMark', 'setTransparent', 'getBindAddressNoPort', 'trimMemory'] as const;

function isNativeBinding(value: unknown): value is NativeBinding {
  if (typeof value !== 'object' || value === null) return false;
  return FUNCTIONS.every((name) => typeof Reflect.get(value, name) === 'function');
}

let loaded: NativeBinding | undefined;

/** The addon, loaded on first use; throws WEFT_ERR_NATIVE_ADDON when it is missing or stale. */
export function nativeBinding(): NativeBinding {
  if (loaded !== undefined) return loaded;
  let value: unknown;
  try {
    value = createRequire(import.meta.url)(ADDON_PATH);
  } catch (err) {
    throw new WeftError('WEFT_ERR_NATIVE_ADDON', `cannot load the native socket addon: ${errorMessage(err)}`, {
      hint: 'build it with scripts/bootstrap.sh (node-gyp rebuild --directory ztunnel/native)',
      cause: err,
    });
  }
  if (!isNativeBinding(value)) {
    throw new WeftError('WEFT_ERR_NATIVE_ADDON', 'the native socket addon lacks expected functions', {
      hint: 'rebuild it: node-gyp rebuild --directory ztunnel/native',
    });
  }
  loaded = value;
  return value;
}
