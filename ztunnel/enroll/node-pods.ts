// What the node itself says about its pods, before (or without) the controller: the records
// a CNI plugin or the node's pod watch hands over (pod netns, address, namespace, labels),
// whether such a pod is captured at once, and the answer written back. Pure: parsing and
// decisions are table-tested apart from files and namespaces.
import net from 'node:net';

/** The label Istio reads on namespaces and pods: `ambient` enrolls, `none` opts a pod out. */
export const DATAPLANE_MODE_LABEL = 'istio.io/dataplane-mode';

/** A pod as the node knows it at creation (the CNI ADD). */
export interface NodePod {
  uid: string;
  namespace: string;
  name: string;
  /** The pod's IPv4 address. */
  ip: string;
  /** Its network namespace, e.g. /var/run/netns/<name> or /proc/<pid>/ns/net. */
  netnsPath: string;
  labels: Readonly<Record<string, string>>;
  serviceAccount: string;
}

/** A namespace's labels as the node knows them. */
export interface NodeNamespace {
  name: string;
  labels: Readonly<Record<string, string>>;
}

/** The node-side answer for one pod record: is its traffic captured now, and why. */
export interface CaptureAck {
  uid: string;
  captured: boolean;
  reason: string;
}

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function stringRecord(v: unknown): Record<string, string> | undefined {
  if (v === undefined) return {};
  if (!isObject(v)) return undefined;
  const out: Record<string, string> = {};
  for (const [k, x] of Object.entries(v)) {
    if (typeof x !== 'string') return undefined;
    out[k] = x;
  }
  return out;
}

/** A valid pod record, or the reason it is not one. */
export function parseNodePod(v: unknown): NodePod | string {
  if (!isObject(v)) return 'not a JSON object';
  const { uid, namespace, name, ip, netnsPath, serviceAccount } = v;
  if (typeof uid !== 'string' || uid === '') return 'uid must be a non-empty string';
  if (typeof namespace !== 'string' || !DNS_LABEL.test(namespace)) return 'namespace must be a DNS label';
  if (typeof name !== 'string' || name === '') return 'name must be a non-empty string';
  if (typeof ip !== 'string' || !net.isIPv4(ip)) return `ip must be an IPv4 address, got ${JSON.stringify(ip)}`;
  if (typeof netnsPath !== 'string' || !netnsPath.startsWith('/')) return 'netnsPath must be an absolute path';
  if (serviceAccount !== undefined && (typeof serviceAccount !== 'string' || serviceAccount === '')) return 'serviceAccount must be a non-empty string';
  const labels = stringRecord(v['labels']);
  if (labels === undefined) return 'labels must map strings to strings';
  return { uid, namespace, name, ip, netnsPath, labels, serviceAccount: serviceAccount ?? 'default' };
}

/** A valid namespace record, or the reason it is not one. */
export function parseNodeNamespace(v: unknown): NodeNamespace | string {
  if (!isObject(v)) return 'not a JSON object';
  const { name } = v;
  if (typeof name !== 'string' || !DNS_LABEL.test(name)) return 'name must be a DNS label';
  const labels = stringRecord(v['labels']);
  if (labels === undefined) return 'labels must map strings to strings';
  return { name, labels };
}

export interface NodeCaptureDecision {
  capture: boolean;
  reason: string;
}

/**
 * Whether the node captures a pod it has no config for: the pod's own label first (`none`
 * opts out, `ambient` opts in), then its namespace's. A namespace the node has never heard
 * of is not ambient.
 */
export function decideNodePod(pod: NodePod, namespaceLabels: Readonly<Record<string, string>> | undefined): NodeCaptureDecision {
  const own = pod.labels[DATAPLANE_MODE_LABEL];
  if (own === 'none') return { capture: false, reason: `pod opts out (${DATAPLANE_MODE_LABEL}=none)` };
  if (own === 'ambient') return { capture: true, reason: `pod is labelled ${DATAPLANE_MODE_LABEL}=ambient` };
  if (namespaceLabels === undefined) return { capture: false, reason: `namespace ${pod.namespace} is not known on this node` };
  if (namespaceLabels[DATAPLANE_MODE_LABEL] === 'ambient') return { capture: true, reason: `namespace ${pod.namespace} is ambient` };
  return { capture: false, reason: `namespace ${pod.namespace} is not ambient` };
}

/** A pod captured on the node's word alone: its traffic fails closed until its config arrives. */
export interface HoldTarget {
  uid: string;
  namespace: string;
  name: string;
  ip: string;
  netnsPath: string;
}

export interface NodeCapturePlan {
  /** Pods to capture and refuse, by uid. */
  hold: Map<string, HoldTarget>;
  /** Pods the node would not capture, with the reason (their ack). */
  skip: Map<string, string>;
}

/**
 * Splits the node's pod records: a pod the config lists is the config's to decide (it is in
 * neither map); any other is held or skipped by `decideNodePod`.
 */
export function planNodeCapture(
  records: readonly NodePod[],
  namespaceLabels: (namespace: string) => Readonly<Record<string, string>> | undefined,
  configured: (uid: string) => boolean,
): NodeCapturePlan {
  const hold = new Map<string, HoldTarget>();
  const skip = new Map<string, string>();
  for (const r of records) {
    if (configured(r.uid)) continue;
    const d = decideNodePod(r, namespaceLabels(r.namespace));
    if (d.capture) hold.set(r.uid, { uid: r.uid, namespace: r.namespace, name: r.name, ip: r.ip, netnsPath: r.netnsPath });
    else skip.set(r.uid, d.reason);
  }
  return { hold, skip };
}

/** Same pod in the same namespace at the same address: holding it again changes nothing. */
export function sameHold(a: HoldTarget, b: HoldTarget): boolean {
  return a.uid === b.uid && a.ip === b.ip && a.netnsPath === b.netnsPath;
}

/** Where one recorded pod stands after a reconcile, as the enroller sees it. */
export interface RecordOutcome {
  enrolled: boolean;
  held: boolean;
  /** The config lists the pod but not as an HBONE workload of this node. */
  configOut: boolean;
  /** The node's own reason not to capture it (no config for it). */
  skipped: string | undefined;
}

/**
 * The ack for a recorded pod, or undefined while it is still on its way (to be enrolled or
 * held, retrying): whoever created the pod waits for a definite answer.
 */
export function ackFor(uid: string, o: RecordOutcome): CaptureAck | undefined {
  if (o.enrolled) return { uid, captured: true, reason: 'enrolled: traffic is proxied' };
  if (o.held) return { uid, captured: true, reason: 'captured; connections fail closed until its config arrives' };
  if (o.configOut) return { uid, captured: false, reason: 'the config does not put this pod in the mesh' };
  if (o.skipped !== undefined) return { uid, captured: false, reason: o.skipped };
  return undefined;
}
