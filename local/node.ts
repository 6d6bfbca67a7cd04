// A node of the embedded cluster: a netns on the underlay that routes for its pods, and a
// folder where the cluster reports the node's pods to its ztunnel, as a CNI plugin would.
import { join } from 'node:path';
import type { Cidr } from './addressing.ts';
import { RUN_DIR } from './ownership.ts';
import { NetnsMember, type ProcessTracker } from './netns-member.ts';

export class LocalNode extends NetnsMember {
  /** 'node1', 'node2', … */
  readonly name: string;
  /** 1-based number of the node (node1 → 1). */
  readonly index: number;
  /** Underlay address (the Kubernetes InternalIP). */
  readonly ip: string;
  readonly podCidr: string;
  /** Address the node's pods use as default gateway. */
  readonly podGateway: string;
  /** The node's underlay interface inside its netns. */
  readonly link: string;
  readonly labels: Readonly<Record<string, string>>;
  /** Pod and namespace records for the node's ztunnel (`--node-dir`, see ztunnel/enroll/node-dir.ts). */
  readonly nodeDir: string;

  constructor(init: {
    name: string; index: number; ip: string; podCidr: Cidr; podGateway: string; link: string; netns: string;
    /** Default: under the run directory, by netns name. */
    nodeDir?: string; track: ProcessTracker;
  }) {
    super(init.netns, init.name, init.track);
    this.name = init.name;
    this.index = init.index;
    this.ip = init.ip;
    this.podCidr = `${init.podCidr.base}/${init.podCidr.prefixLength}`;
    this.podGateway = init.podGateway;
    this.link = init.link;
    this.nodeDir = init.nodeDir ?? join(RUN_DIR, 'nodes', init.netns);
    this.labels = Object.freeze({
      'kubernetes.io/hostname': init.name,
      'kubernetes.io/os': 'linux',
    });
  }
}
