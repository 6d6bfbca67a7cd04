// Builds the mesh model from cluster objects: a pure function of the current objects, so what
// proxies receive always follows from them alone. It is fast enough to run on every change:
// services and policies are indexed once per build (no pods × services scan), and what was
// built from an object whose inputs did not change is reused as the same object (ObjectMemo).
import type { Authorization, GatewayAddress, Resource } from '#core/config/model.ts';
import { resourceKey } from '#core/config/model.ts';
import { spiffeIdFor } from '#core/identity/spiffe.ts';
import type { AuthorizationPolicy, ClusterObjects, EndpointSlice, Pod, Service } from '#controller/source/types.ts';
import { modelKey, type MeshModel, type ModelOptions, type ResourceCondition } from '#controller/model/types.ts';
import { convertAuthorizationPolicy, type ConvertedPolicy } from '#controller/model/authorization.ts';
import { podIsLive, podIsRunning, podWantsMesh, serviceAccountOf } from '#controller/model/enrollment.ts';
import { ObjectMemo } from '#controller/model/object-memo.ts';
import { convertPeerAuthentications, type MeshWorkloadRef } from '#controller/model/peer-authentication.ts';
import { SelectorPolicyIndex } from '#controller/model/policy-index.ts';
import { ServiceIndex } from '#controller/model/service-index.ts';
import { hasNamedTargetPort, toMeshService } from '#controller/model/services.ts';
import { defaultWaypointAddress, indexWaypoints, resolveWaypoint, type WaypointAddressLookup } from '#controller/model/waypoints.ts';
import { sameAddress, sameItems, sameWorkloadInputs, toWorkload, workloadUid, type WorkloadInputs } from '#controller/model/workload.ts';

export interface BuildExtensions {
  /** How waypoint addresses are found; local mode wraps the default with its own deployments. */
  waypointAddress?: WaypointAddressLookup;
}

/** A resource with its model key, as the memos keep them. */
interface Keyed {
  key: string;
  resource: Resource;
}

const NO_SLICES: readonly (readonly EndpointSlice[] | undefined)[] = [];

const keyed = (resource: Resource): Keyed => ({ key: modelKey(resource), resource });

interface ServiceInputs {
  slices: readonly EndpointSlice[] | undefined;
  waypoint: GatewayAddress | undefined;
}
const sameServiceInputs = (a: ServiceInputs, b: ServiceInputs): boolean => sameItems(a.slices, b.slices) && sameAddress(a.waypoint, b.waypoint);
const sameString = (a: string, b: string): boolean => a === b;

/**
 * Builds models one after another, reusing what the previous build made from unchanged
 * objects. Its results are exactly a fresh build's; only the work differs.
 */
export class ModelBuilder {
  readonly #services = new ObjectMemo<Service, ServiceInputs, Keyed>(sameServiceInputs, serviceResource);
  readonly #policies = new ObjectMemo<AuthorizationPolicy, string, ConvertedPolicy & { keyed?: Keyed }>(sameString, convertPolicy);
  readonly #workloads = new ObjectMemo<Pod, WorkloadInputs, Keyed>(sameWorkloadInputs, workloadResource);
  readonly #identities = new ObjectMemo<Pod, string, string>(sameString, podIdentity);

  build(objects: ClusterObjects, options: ModelOptions, extensions: BuildExtensions = {}): MeshModel {
    const memos = [this.#services, this.#policies, this.#workloads, this.#identities];
    for (const m of memos) m.begin();
    const model = build(objects, options, extensions, { services: this.#services, policies: this.#policies, workloads: this.#workloads, identities: this.#identities });
    for (const m of memos) m.end();
    return model;
  }
}

const shared = new ModelBuilder();

/** The model for these objects; successive calls share one ModelBuilder. */
export function buildModel(objects: ClusterObjects, options: ModelOptions, extensions: BuildExtensions = {}): MeshModel {
  return shared.build(objects, options, extensions);
}

interface Memos {
  services: ObjectMemo<Service, ServiceInputs, Keyed>;
  policies: ObjectMemo<AuthorizationPolicy, string, ConvertedPolicy & { keyed?: Keyed }>;
  workloads: ObjectMemo<Pod, WorkloadInputs, Keyed>;
  identities: ObjectMemo<Pod, string, string>;
}

function build(objects: ClusterObjects, options: ModelOptions, extensions: BuildExtensions, memo: Memos): MeshModel {
  const resources = new Map<string, Resource>();
  const conditions: ResourceCondition[] = [];
  const add = (k: Keyed): void => void resources.set(k.key, k.resource);
  const nsLabels = (ns: string): Readonly<Record<string, string>> => objects.namespaces.get(ns)?.metadata.labels ?? {};

  const { waypoints, conditions: waypointConditions } = indexWaypoints(objects, options.trustDomain, extensions.waypointAddress ?? defaultWaypointAddress);
  conditions.push(...waypointConditions);

  const serviceIndex = new ServiceIndex(objects);
  // Slices matter only to named target ports; other services ignore slice changes.
  const serviceSlices = new Map<Service, readonly EndpointSlice[] | undefined>();
  for (const [svcKey, svc] of serviceIndex.meshServices) {
    const res = resolveWaypoint({ kind: 'Service', metadata: svc.metadata }, nsLabels(svc.metadata.namespace), waypoints);
    if (res.condition !== undefined) conditions.push(res.condition);
    const inputs = { slices: hasNamedTargetPort(svc) ? serviceIndex.slicesOf(svc) : undefined, waypoint: res.waypoint };
    serviceSlices.set(svc, inputs.slices);
    add(memo.services.get(svcKey, svc, inputs));
  }

  // Selector policies, indexed by namespace so workloads find the ones selecting them.
  const selectorPolicies = new SelectorPolicyIndex(options.rootNamespace);
  for (const [policyKey, policy] of objects.authorizationPolicies) {
    const converted = memo.policies.get(policyKey, policy, options.rootNamespace);
    conditions.push(...converted.conditions);
    if (converted.authorization === undefined || converted.keyed === undefined) continue;
    add(converted.keyed);
    if (converted.selector !== undefined) {
      selectorPolicies.add(resourceKey.authorization(converted.authorization), policy.metadata.namespace, converted.selector);
    }
  }

  // PeerAuthentications need every meshed workload first; pods are walked for them only if there are any.
  const meshRefs: MeshWorkloadRef[] = [];
  if (objects.peerAuthentications.size > 0) {
    for (const pod of objects.pods.values()) {
      if (!podIsRunning(pod) || !podWantsMesh(pod, objects.namespaces.get(pod.metadata.namespace))) continue;
      meshRefs.push({ uid: workloadUid(pod, options.clusterId), namespace: pod.metadata.namespace, labels: pod.metadata.labels });
    }
  }
  const peer = convertPeerAuthentications(objects.peerAuthentications.values(), meshRefs, options.rootNamespace);
  for (const a of peer.authorizations) add(authorizationResource(a));

  const identitiesByNode = new Map<string, Set<string>>();
  for (const [podKey, pod] of objects.pods) {
    const { namespace, labels } = pod.metadata;
    const inMesh = podWantsMesh(pod, objects.namespaces.get(namespace));
    const nodeName = pod.spec.nodeName;
    if (inMesh && podIsLive(pod) && nodeName !== undefined) {
      let ids = identitiesByNode.get(nodeName);
      if (ids === undefined) identitiesByNode.set(nodeName, ids = new Set<string>());
      ids.add(memo.identities.get(podKey, pod, options.trustDomain));
    }
    if (!podIsRunning(pod)) continue;
    let waypoint: GatewayAddress | undefined;
    if (inMesh) {
      const res = resolveWaypoint({ kind: 'Pod', metadata: pod.metadata }, nsLabels(namespace), waypoints);
      waypoint = res.waypoint;
      if (res.condition !== undefined) conditions.push(res.condition);
    }
    const selected = selectorPolicies.selecting(namespace, labels);
    const attached = peer.attach.size === 0 ? undefined : peer.attach.get(workloadUid(pod, options.clusterId));
    const services = serviceIndex.selecting(pod);
    const inputs: WorkloadInputs = {
      inMesh,
      trustDomain: options.trustDomain,
      clusterId: options.clusterId,
      node: pod.status.hostIP === undefined && nodeName !== undefined ? objects.nodes.get(nodeName) : undefined,
      services,
      slices: services.length === 0 ? NO_SLICES : services.map((svc) => serviceSlices.get(svc)),
      authorizationPolicies: attached === undefined && selected.length <= 1 ? selected : [...new Set([...selected, ...(attached ?? [])])].sort(),
      waypoint,
    };
    add(memo.workloads.get(podKey, pod, inputs));
  }
  // After the pods' conditions, as a namespace's conditions are reported in that order.
  conditions.push(...peer.conditions);

  return {
    resources,
    conditions: dedupe(conditions),
    identitiesByNode,
    waypointIdentities: new Set([...waypoints.values()].map((wp) => wp.identity)),
  };
}

function serviceResource(svc: Service, inputs: ServiceInputs): Keyed {
  const value = toMeshService(svc, inputs.slices ?? []);
  if (inputs.waypoint !== undefined) value.waypoint = inputs.waypoint;
  return keyed({ kind: 'service', key: resourceKey.service(value), value });
}

function convertPolicy(policy: AuthorizationPolicy, rootNamespace: string): ConvertedPolicy & { keyed?: Keyed } {
  const c: ConvertedPolicy & { keyed?: Keyed } = convertAuthorizationPolicy(policy, rootNamespace);
  if (c.authorization !== undefined) c.keyed = authorizationResource(c.authorization);
  return c;
}

function workloadResource(pod: Pod, inputs: WorkloadInputs): Keyed {
  const value = toWorkload(pod, inputs);
  return keyed({ kind: 'workload', key: resourceKey.workload(value), value });
}

function podIdentity(pod: Pod, trustDomain: string): string {
  return spiffeIdFor(pod.metadata.namespace, serviceAccountOf(pod), trustDomain);
}

function authorizationResource(value: Authorization): Keyed {
  return keyed({ kind: 'authorization', key: resourceKey.authorization(value), value });
}

/** A namespace label reaches many objects; report each condition once. */
function dedupe(conditions: ResourceCondition[]): ResourceCondition[] {
  const seen = new Map<string, ResourceCondition>();
  for (const c of conditions) seen.set(`${c.kind}/${c.namespace}/${c.name}/${c.type}`, c);
  return [...seen.values()];
}
