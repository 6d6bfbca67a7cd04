// Builds the mesh model from cluster objects: a pure function, rebuilt on every change,
// so what proxies receive always follows from the current objects alone.
import type { Authorization, Resource, Workload } from '#core/config/model.ts';
import { resourceKey } from '#core/config/model.ts';
import { spiffeIdFor } from '#core/identity/spiffe.ts';
import type { ClusterObjects, Pod } from '#controller/source/types.ts';
import { modelKey, type MeshModel, type ModelOptions, type ResourceCondition } from '#controller/model/types.ts';
import { convertAuthorizationPolicy } from '#controller/model/authorization.ts';
import { canonicalNameOf, canonicalRevisionOf, workloadNameOf } from '#controller/model/canonical.ts';
import { podAddresses, podIsLive, podIsReady, podIsRunning, podWantsMesh, serviceAccountOf } from '#controller/model/enrollment.ts';
import { selects } from '#controller/model/labels.ts';
import { convertPeerAuthentications, type MeshWorkloadRef } from '#controller/model/peer-authentication.ts';
import { resolveTargetPort, serviceHostname, serviceSelectsPod, slicesOf, tcpPorts, toMeshService } from '#controller/model/services.ts';
import { defaultWaypointAddress, indexWaypoints, resolveWaypoint, type WaypointAddressLookup } from '#controller/model/waypoints.ts';

export interface BuildExtensions {
  /** How waypoint addresses are found; local mode wraps the default with its own deployments. */
  waypointAddress?: WaypointAddressLookup;
}

export function buildModel(objects: ClusterObjects, options: ModelOptions, extensions: BuildExtensions = {}): MeshModel {
  const resources = new Map<string, Resource>();
  const conditions: ResourceCondition[] = [];
  const add = (r: Resource): void => void resources.set(modelKey(r), r);
  const nsLabels = (ns: string): Readonly<Record<string, string>> => objects.namespaces.get(ns)?.metadata.labels ?? {};

  const { waypoints, conditions: waypointConditions } = indexWaypoints(objects, options.trustDomain, extensions.waypointAddress ?? defaultWaypointAddress);
  conditions.push(...waypointConditions);

  const services = [...objects.services.values()].filter((s) => s.spec.type !== 'ExternalName');
  for (const svc of services) {
    const value = toMeshService(svc, objects);
    const res = resolveWaypoint({ kind: 'Service', metadata: svc.metadata }, nsLabels(svc.metadata.namespace), waypoints);
    if (res.waypoint !== undefined) value.waypoint = res.waypoint;
    if (res.condition !== undefined) conditions.push(res.condition);
    add({ kind: 'service', key: resourceKey.service(value), value });
  }

  // Selector policies, kept with their labels so workloads can list the ones selecting them.
  const selectorPolicies: { key: string; namespace: string; selector: Readonly<Record<string, string>> }[] = [];
  for (const policy of objects.authorizationPolicies.values()) {
    const converted = convertAuthorizationPolicy(policy, options.rootNamespace);
    conditions.push(...converted.conditions);
    if (converted.authorization === undefined) continue;
    addAuthorization(add, converted.authorization);
    if (converted.selector !== undefined) {
      selectorPolicies.push({ key: resourceKey.authorization(converted.authorization), namespace: policy.metadata.namespace, selector: converted.selector });
    }
  }

  const workloads: Workload[] = [];
  const meshRefs: MeshWorkloadRef[] = [];
  const identitiesByNode = new Map<string, Set<string>>();
  for (const pod of objects.pods.values()) {
    const ns = objects.namespaces.get(pod.metadata.namespace);
    const inMesh = podWantsMesh(pod, ns);
    if (inMesh && podIsLive(pod) && pod.spec.nodeName !== undefined) {
      const ids = identitiesByNode.get(pod.spec.nodeName) ?? new Set<string>();
      ids.add(spiffeIdFor(pod.metadata.namespace, serviceAccountOf(pod), options.trustDomain));
      identitiesByNode.set(pod.spec.nodeName, ids);
    }
    if (!podIsRunning(pod)) continue;
    const w = toWorkload(pod, inMesh, objects, options);
    w.authorizationPolicies = selectorPolicies
      .filter((p) => (p.namespace === pod.metadata.namespace || p.namespace === options.rootNamespace) && selects(p.selector, pod.metadata.labels))
      .map((p) => p.key);
    if (inMesh) {
      const res = resolveWaypoint({ kind: 'Pod', metadata: pod.metadata }, nsLabels(pod.metadata.namespace), waypoints);
      if (res.waypoint !== undefined) w.waypoint = res.waypoint;
      if (res.condition !== undefined) conditions.push(res.condition);
      meshRefs.push({ uid: w.uid, namespace: w.namespace, labels: pod.metadata.labels });
    }
    workloads.push(w);
  }

  const peer = convertPeerAuthentications(objects.peerAuthentications.values(), meshRefs, options.rootNamespace);
  conditions.push(...peer.conditions);
  for (const a of peer.authorizations) addAuthorization(add, a);
  for (const w of workloads) {
    w.authorizationPolicies = [...new Set([...w.authorizationPolicies, ...(peer.attach.get(w.uid) ?? [])])].sort();
    add({ kind: 'workload', key: resourceKey.workload(w), value: w });
  }

  return {
    resources,
    conditions: dedupe(conditions),
    identitiesByNode,
    waypointIdentities: new Set([...waypoints.values()].map((wp) => wp.identity)),
  };
}

function addAuthorization(add: (r: Resource) => void, value: Authorization): void {
  add({ kind: 'authorization', key: resourceKey.authorization(value), value });
}

function toWorkload(pod: Pod, inMesh: boolean, objects: ClusterObjects, options: ModelOptions): Workload {
  const { namespace, name } = pod.metadata;
  const services: Record<string, Record<string, number>> = {};
  for (const svc of objects.services.values()) {
    if (svc.spec.type === 'ExternalName' || !serviceSelectsPod(svc, pod)) continue;
    const slices = slicesOf(svc, objects);
    const ports: Record<string, number> = {};
    for (const p of tcpPorts(svc)) {
      const target = resolveTargetPort(p, slices, pod);
      if (target !== undefined) ports[String(p.port)] = target;
    }
    services[`${namespace}/${serviceHostname(svc)}`] = ports;
  }
  const w: Workload = {
    uid: pod.metadata.uid ?? `${options.clusterId}//Pod/${namespace}/${name}`,
    name,
    namespace,
    addresses: podAddresses(pod),
    node: pod.spec.nodeName ?? '',
    tunnelProtocol: inMesh ? 'HBONE' : 'NONE',
    trustDomain: options.trustDomain,
    serviceAccount: serviceAccountOf(pod),
    canonicalName: canonicalNameOf(pod),
    canonicalRevision: canonicalRevisionOf(pod),
    workloadType: 'pod',
    workloadName: workloadNameOf(pod),
    services,
    authorizationPolicies: [],
    status: podIsReady(pod) ? 'HEALTHY' : 'UNHEALTHY',
    clusterId: options.clusterId,
  };
  const nodeAddress = pod.status.hostIP ?? nodeInternalIp(objects, pod.spec.nodeName);
  if (nodeAddress !== undefined && nodeAddress !== '') w.nodeAddress = nodeAddress;
  return w;
}

function nodeInternalIp(objects: ClusterObjects, node: string | undefined): string | undefined {
  if (node === undefined) return undefined;
  return objects.nodes.get(node)?.status.addresses.find((a) => a.type === 'InternalIP')?.address;
}

/** A namespace label reaches many objects; report each condition once. */
function dedupe(conditions: ResourceCondition[]): ResourceCondition[] {
  const seen = new Map<string, ResourceCondition>();
  for (const c of conditions) seen.set(`${c.kind}/${c.namespace}/${c.name}/${c.type}`, c);
  return [...seen.values()];
}
