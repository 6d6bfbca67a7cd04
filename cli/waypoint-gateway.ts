// What `weft waypoint` writes and shows: a waypoint is a Gateway of class istio-waypoint with
// one HBONE listener (as istioctl makes it), its traffic kind in the istio.io/waypoint-for
// label; the controller turns it into a running proxy. Pure functions, shared by the
// manifest-folder and Kubernetes back ends.
import { WeftError } from '#core/errors.ts';
import { HBONE_PORT, Labels, WAYPOINT_CLASS } from '#controller/model/labels.ts';
import { table } from '#cli/format.ts';

export const WAYPOINT_FOR_CHOICES = ['service', 'workload', 'all'] as const;
export type WaypointForChoice = (typeof WAYPOINT_FOR_CHOICES)[number];

export interface WaypointSpec {
  namespace: string;
  name: string;
  /** Unset: no label, which the controller reads as `service`. */
  for?: WaypointForChoice;
}

/** One line of `weft waypoint list`. */
export interface WaypointRow {
  namespace: string;
  name: string;
  for: string;
  /** '-' while unknown (no status, or not deployed yet). */
  address: string;
  /** The Programmed condition's status, or '-' when the Gateway has none. */
  programmed: string;
  /** The Gateway's status conditions, as the controller wrote them. */
  conditions: { type: string; status: string; reason: string; message: string }[];
}

// The name becomes the ServiceAccount's, Deployment's and Service's: a Service needs a DNS-1035 label.
const DNS_LABEL = /^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$/;
const NAMESPACE = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

/** Throws WEFT_ERR_WAYPOINT when the namespace or name cannot name a waypoint's objects. */
export function checkWaypointRef(namespace: string, name: string): void {
  if (!NAMESPACE.test(namespace)) throw new WeftError('WEFT_ERR_WAYPOINT', `${JSON.stringify(namespace)} is not a namespace name`, { hint: 'lower-case letters, digits and "-", at most 63' });
  if (!DNS_LABEL.test(name)) {
    throw new WeftError('WEFT_ERR_WAYPOINT', `${JSON.stringify(name)} cannot name a waypoint`, {
      hint: 'the name is also its Service\'s: a lower-case letter, then letters, digits or "-", at most 63',
    });
  }
}

/** The Gateway manifest of a waypoint. */
export function waypointGateway(spec: WaypointSpec): Record<string, unknown> {
  checkWaypointRef(spec.namespace, spec.name);
  return {
    apiVersion: 'gateway.networking.k8s.io/v1',
    kind: 'Gateway',
    metadata: {
      name: spec.name,
      namespace: spec.namespace,
      ...(spec.for === undefined ? {} : { labels: { [Labels.waypointFor]: spec.for } }),
    },
    spec: {
      gatewayClassName: WAYPOINT_CLASS,
      listeners: [{ name: 'mesh', port: HBONE_PORT, protocol: 'HBONE' }],
    },
  };
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

const str = (v: unknown): string => (typeof v === 'string' ? v : '');

/** The Gateway's class, or undefined when `obj` is not a Gateway. */
export function gatewayClassOf(obj: unknown): string | undefined {
  if (!isRecord(obj) || obj['kind'] !== 'Gateway' || typeof obj['apiVersion'] !== 'string' || !obj['apiVersion'].startsWith('gateway.networking.k8s.io/')) return undefined;
  return isRecord(obj['spec']) ? str(obj['spec']['gatewayClassName']) : '';
}

/** The list row of a waypoint Gateway as read from a manifest or the API; undefined for anything else. */
export function waypointRow(obj: unknown, defaultNamespace = 'default'): WaypointRow | undefined {
  if (gatewayClassOf(obj) !== WAYPOINT_CLASS || !isRecord(obj)) return undefined;
  const meta = isRecord(obj['metadata']) ? obj['metadata'] : {};
  const labels = isRecord(meta['labels']) ? meta['labels'] : {};
  const status = isRecord(obj['status']) ? obj['status'] : {};
  const addresses = Array.isArray(status['addresses']) ? status['addresses'].filter(isRecord).map((a) => str(a['value'])).filter((v) => v !== '') : [];
  const conditions = Array.isArray(status['conditions']) ? status['conditions'].filter(isRecord) : [];
  const programmed = conditions.find((c) => c['type'] === 'Programmed');
  return {
    namespace: str(meta['namespace']) === '' ? defaultNamespace : str(meta['namespace']),
    name: str(meta['name']),
    for: str(labels[Labels.waypointFor]) === '' ? 'service' : str(labels[Labels.waypointFor]),
    address: addresses.length === 0 ? '-' : addresses.join(','),
    programmed: programmed === undefined ? '-' : str(programmed['status']),
    conditions: conditions.map((c) => ({ type: str(c['type']), status: str(c['status']), reason: str(c['reason']), message: str(c['message']) })),
  };
}

/** kubectl's habit: the NAMESPACE column only when listing across namespaces. */
export function formatWaypoints(rows: readonly WaypointRow[], allNamespaces: boolean, namespace: string): string {
  if (rows.length === 0) return allNamespaces ? 'No waypoints found.\n' : `No waypoints found in namespace ${namespace}.\n`;
  const sorted = [...rows].sort((a, b) => a.namespace.localeCompare(b.namespace) || a.name.localeCompare(b.name));
  const cells = sorted.map((r) => [r.name, r.for, r.address, r.programmed]);
  const header = ['NAME', 'FOR', 'ADDRESS', 'PROGRAMMED'];
  return allNamespaces
    ? table(['NAMESPACE', ...header], cells.map((c, i) => [sorted[i]?.namespace ?? '', ...c]))
    : table(header, cells);
}

/** `weft waypoint status`: each waypoint's address and every condition the controller set on it. */
export function formatWaypointStatus(rows: readonly WaypointRow[], namespace: string): string {
  if (rows.length === 0) return `No waypoints found in namespace ${namespace}.\n`;
  const sorted = [...rows].sort((a, b) => a.name.localeCompare(b.name));
  const cells = sorted.flatMap((r) => (r.conditions.length === 0
    ? [[r.name, r.for, r.address, '-', '-', 'NotReconciled', 'no status yet: is the controller running?']]
    : r.conditions.map((c) => [r.name, r.for, r.address, c.type, c.status, c.reason, c.message])));
  return table(['NAME', 'FOR', 'ADDRESS', 'CONDITION', 'STATUS', 'REASON', 'MESSAGE'], cells);
}

/** Where `weft waypoint` keeps waypoints: a folder of manifests, or a Kubernetes API. */
export interface WaypointBackend {
  /** The namespace when -n is not given. */
  defaultNamespace(): string;
  /** Creates or replaces the waypoint's Gateway; returns where it went, for the message. */
  apply(spec: WaypointSpec): Promise<string>;
  /** Labels the namespace istio.io/use-waypoint=<name>, so its services use the waypoint. */
  enrollNamespace(namespace: string, name: string): Promise<void>;
  /** Sets labels on an existing namespace; null removes one. */
  labelNamespace(namespace: string, labels: Readonly<Record<string, string | null>>): Promise<void>;
  /** Waypoints of one namespace, or of all when undefined. */
  list(namespace: string | undefined): Promise<WaypointRow[]>;
  /** False when there is no such waypoint; throws when the Gateway is not a waypoint. */
  delete(namespace: string, name: string): Promise<boolean>;
}
