// The address plan of one embedded cluster. A cluster index 0..15 keeps the underlay, pod and
// service ranges of clusters running side by side apart:
//   underlay  192.168.(200+i).0/24  host .1, node k .(10+k)
//   pods      10.(224+i).0.0/16     node k gets 10.(224+i).k.0/<podCidrPrefix> (24 by default);
//                                   .1 of it is the node's gateway address for its pods
//   services  10.(96+i).0.0/16      virtual IPs from .0.10 on
import { WeftError } from '#core/errors.ts';

export const MAX_CLUSTERS = 16;
export const MAX_NODES = 200;

export function ipToInt(ip: string): number {
  const parts = ip.split('.');
  if (parts.length !== 4) throw new WeftError('WEFT_ERR_LOCAL_BAD_ADDRESS', `not an IPv4 address: ${ip}`);
  let n = 0;
  for (const part of parts) {
    const octet = Number(part);
    if (!/^\d{1,3}$/.test(part) || octet > 255) throw new WeftError('WEFT_ERR_LOCAL_BAD_ADDRESS', `not an IPv4 address: ${ip}`);
    n = n * 256 + octet;
  }
  return n;
}

export function intToIp(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

export interface Cidr {
  readonly base: string;
  readonly prefixLength: number;
}

export function formatCidr(cidr: Cidr): string {
  return `${cidr.base}/${cidr.prefixLength}`;
}

export function cidrSize(cidr: Cidr): number {
  return 2 ** (32 - cidr.prefixLength);
}

export function cidrContains(cidr: Cidr, ip: string): boolean {
  const size = cidrSize(cidr);
  const start = ipToInt(cidr.base);
  const n = ipToInt(ip);
  return n >= start && n < start + size;
}

export interface AddressPlan {
  readonly index: number;
  readonly underlay: Cidr;
  /** The root netns's address on the underlay (host link). */
  readonly hostIp: string;
  /** All pod CIDRs of the cluster together. */
  readonly clusterPodCidr: Cidr;
  readonly serviceCidr: Cidr;
  nodeIp(node: number): string;
  podCidr(node: number): Cidr;
  /** The address pods of a node use as their default gateway (on the node's lo). */
  podGateway(node: number): string;
}

export function addressPlan(index: number, podCidrPrefix = 24): AddressPlan {
  if (!Number.isInteger(index) || index < 0 || index >= MAX_CLUSTERS) {
    throw new WeftError('WEFT_ERR_LOCAL_BAD_INDEX', `cluster index ${index} is outside 0..${MAX_CLUSTERS - 1}`);
  }
  if (!Number.isInteger(podCidrPrefix) || podCidrPrefix < 24 || podCidrPrefix > 30) {
    throw new WeftError('WEFT_ERR_LOCAL_BAD_CIDR', `pod CIDR prefix length ${podCidrPrefix} is outside 24..30`, {
      hint: 'a node needs room for the network, gateway and broadcast addresses plus at least one pod',
    });
  }
  const checkNode = (node: number): void => {
    if (!Number.isInteger(node) || node < 1 || node > MAX_NODES) {
      throw new WeftError('WEFT_ERR_LOCAL_BAD_INDEX', `node number ${node} is outside 1..${MAX_NODES}`);
    }
  };
  const podCidr = (node: number): Cidr => {
    checkNode(node);
    return { base: `10.${224 + index}.${node}.0`, prefixLength: podCidrPrefix };
  };
  return {
    index,
    underlay: { base: `192.168.${200 + index}.0`, prefixLength: 24 },
    hostIp: `192.168.${200 + index}.1`,
    clusterPodCidr: { base: `10.${224 + index}.0.0`, prefixLength: 16 },
    serviceCidr: { base: `10.${96 + index}.0.0`, prefixLength: 16 },
    nodeIp: (node) => {
      checkNode(node);
      return `192.168.${200 + index}.${10 + node}`;
    },
    podCidr,
    podGateway: (node) => intToIp(ipToInt(podCidr(node).base) + 1),
  };
}

/**
 * Hands out addresses of a range in order, reusing released ones lowest first. `first` and
 * `last` are inclusive offsets into the range, so callers keep network, gateway and broadcast
 * addresses out.
 */
export class IpPool {
  readonly #what: string;
  readonly #start: number;
  readonly #first: number;
  readonly #last: number;
  readonly #used = new Set<number>();

  constructor(what: string, cidr: Cidr, first: number, last: number) {
    this.#what = what;
    this.#start = ipToInt(cidr.base);
    this.#first = first;
    this.#last = Math.min(last, cidrSize(cidr) - 1);
  }

  get capacity(): number {
    return Math.max(0, this.#last - this.#first + 1);
  }

  get used(): number {
    return this.#used.size;
  }

  allocate(): string {
    for (let offset = this.#first; offset <= this.#last; offset++) {
      if (!this.#used.has(offset)) {
        this.#used.add(offset);
        return intToIp(this.#start + offset);
      }
    }
    throw new WeftError('WEFT_ERR_LOCAL_CIDR_EXHAUSTED', `${this.#what} has no free address left (${this.capacity} in use)`, {
      hint: 'remove pods or services, or start the cluster with a larger range',
    });
  }

  release(ip: string): void {
    this.#used.delete(ipToInt(ip) - this.#start);
  }
}

/** Pod addresses of a node: skip network (.0) and gateway (.1), and the broadcast address. */
export function podPool(node: string, cidr: Cidr): IpPool {
  return new IpPool(`pod CIDR ${formatCidr(cidr)} of ${node}`, cidr, 2, cidrSize(cidr) - 2);
}

/** Service VIPs: start at .0.10, like a Kubernetes service range, and stop before broadcast. */
export function servicePool(cidr: Cidr): IpPool {
  return new IpPool(`service CIDR ${formatCidr(cidr)}`, cidr, 10, cidrSize(cidr) - 2);
}
