// Names of the kernel objects of one embedded cluster: every netns, link and iptables chain
// starts with a short per-cluster prefix, so sweeping a cluster never touches another one.
import { createHash } from 'node:crypto';
import { WeftError } from '#core/errors.ts';

/** Linux refuses interface names longer than this (IFNAMSIZ - 1). */
export const MAX_LINK_NAME = 15;
/** iptables chain names are limited to this many characters. */
export const MAX_CHAIN_NAME = 28;

const CLUSTER_NAME = /^[a-z0-9]([a-z0-9-]{0,30}[a-z0-9])?$/;
const DNS_LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?$/;

export function validateClusterName(name: string): void {
  if (!CLUSTER_NAME.test(name)) {
    throw new WeftError('WEFT_ERR_LOCAL_BAD_NAME', `cluster name ${JSON.stringify(name)} is not valid`, {
      hint: 'use 1-32 lowercase letters, digits and dashes, starting and ending with a letter or digit',
    });
  }
}

/** Namespaces are DNS labels (no dots); pod and service names DNS subdomains, as in Kubernetes. */
export function validateObjectName(kind: string, namespace: string, name: string): void {
  if (!DNS_LABEL.test(namespace)) {
    throw new WeftError('WEFT_ERR_LOCAL_BAD_NAME', `${kind} namespace ${JSON.stringify(namespace)} is not a DNS label`);
  }
  if (!DNS_SUBDOMAIN.test(name)) {
    throw new WeftError('WEFT_ERR_LOCAL_BAD_NAME', `${kind} name ${JSON.stringify(name)} is not a DNS subdomain`);
  }
}

/**
 * The prefix of a cluster's kernel objects: the name itself when it is at most 5 letters and
 * digits, otherwise its first two letters/digits plus 4 hex digits of its hash (always 6
 * characters, so the two forms never meet). Always alphanumeric, so `<prefix>-` never matches
 * another cluster's objects.
 */
export function clusterPrefix(name: string): string {
  validateClusterName(name);
  if (/^[a-z0-9]{1,5}$/.test(name)) return name;
  const head = name.replace(/[^a-z0-9]/g, '').slice(0, 2);
  const hash = createHash('sha256').update(name).digest('hex').slice(0, 4);
  return head + hash;
}

/** A link name `<prefix>-<suffix>`, checked against the kernel's 15-character limit. */
export function linkName(prefix: string, suffix: string): string {
  const name = `${prefix}-${suffix}`;
  if (name.length > MAX_LINK_NAME) {
    throw new WeftError('WEFT_ERR_LOCAL_NAME_TOO_LONG', `link name ${name} is longer than ${MAX_LINK_NAME} characters`);
  }
  return name;
}

/** Names of every link, netns and chain of one cluster, derived from its prefix. */
export class ClusterNames {
  readonly prefix: string;

  constructor(prefix: string) {
    this.prefix = prefix;
  }

  /** Everything this cluster owns starts with this. */
  get ownedPrefix(): string { return `${this.prefix}-`; }

  get underlayNetns(): string { return `${this.prefix}-underlay`; }
  nodeNetns(node: string): string { return `${this.prefix}-${node}`; }
  /** Namespaces cannot hold dots, so `<ns>.<name>` is unambiguous. */
  podNetns(namespace: string, name: string): string { return `${this.prefix}-${namespace}.${name}`; }

  get bridge(): string { return linkName(this.prefix, 'br'); }
  /** The root-netns end of the host link, and its bridge port in the underlay. */
  get hostLink(): string { return linkName(this.prefix, 'host'); }
  get hostBridgePort(): string { return linkName(this.prefix, 'hostb'); }
  /** Node k's interface in its netns, and its bridge port in the underlay. */
  nodeLink(index: number): string { return linkName(this.prefix, `n${index}`); }
  nodeBridgePort(index: number): string { return linkName(this.prefix, `n${index}b`); }
  /** Pod number n (cluster-wide counter): node side (like cali*) and pod side. */
  podHostLink(serial: number): string { return linkName(this.prefix, `v${serial.toString(36)}`); }
  podLink(serial: number): string { return linkName(this.prefix, `p${serial.toString(36)}`); }

  get servicesChain(): string { return `${this.prefix}-SERVICES`; }
  get postroutingChain(): string { return `${this.prefix}-POSTROUTING`; }
  serviceChain(key: string): string { return `${this.prefix}-SVC-${shortHash(key)}`; }
  endpointChain(key: string): string { return `${this.prefix}-SEP-${shortHash(key)}`; }
}

function shortHash(key: string): string {
  return createHash('sha256').update(key).digest('hex').slice(0, 12).toUpperCase();
}
