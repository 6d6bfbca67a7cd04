// A pod of the embedded cluster: a netns with one veth to its node, an address from the
// node's pod CIDR and a default route through the node.
import { randomUUID } from 'node:crypto';
import { NetnsMember, type ProcessTracker } from './netns-member.ts';

export class LocalPod extends NetnsMember {
  readonly namespace: string;
  readonly name: string;
  readonly uid: string;
  /** Node name, e.g. 'node1'. */
  readonly node: string;
  readonly nodeIp: string;
  readonly ip: string;
  readonly serviceAccount: string;
  /** The pod's interface (inside its netns) and its peer in the node netns. */
  readonly link: string;
  readonly hostLink: string;
  readonly createdAt: Date;
  #labels: Readonly<Record<string, string>>;
  #ready = true;

  constructor(init: {
    namespace: string; name: string; node: string; nodeIp: string; ip: string;
    labels: Record<string, string>; serviceAccount: string; link: string; hostLink: string; netns: string;
    track: ProcessTracker;
  }) {
    super(init.netns, `${init.namespace}/${init.name}`, init.track);
    this.namespace = init.namespace;
    this.name = init.name;
    this.uid = randomUUID();
    this.node = init.node;
    this.nodeIp = init.nodeIp;
    this.ip = init.ip;
    this.serviceAccount = init.serviceAccount;
    this.link = init.link;
    this.hostLink = init.hostLink;
    this.createdAt = new Date();
    this.#labels = Object.freeze({ ...init.labels });
  }

  get labels(): Readonly<Record<string, string>> { return this.#labels; }
  /** Ready pods are Service endpoints; see LocalCluster.setPodReady. */
  get ready(): boolean { return this.#ready; }

  /** @internal the cluster changes these and then updates rules and manifests. */
  _setLabels(labels: Record<string, string>): void { this.#labels = Object.freeze({ ...labels }); }
  /** @internal */
  _setReady(ready: boolean): void { this.#ready = ready; }
}
