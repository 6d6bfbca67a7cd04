// Builds the mesh model from cluster objects: a pure function of the current objects, so what
// proxies receive always follows from them alone. It is fast enough to run on every change:
// services and policies are indexed once per build (no pods × services scan), and what was
// built from an object whose inputs did not change is reused as the same object (ObjectMemo),
// so the generation diff downstream settles unchanged resources by pointer checks.
import type { Authorization, GatewayAddress, Resource } from '#core/config/model.ts';
import { resourceKey } from '#core/config/model.ts';
import { spiffeIdFor } from '#core/identity/spiffe.ts';
import type { AuthorizationPolicy, ClusterObjects, EndpointSlice, Pod, Service } from '#controller/source/types.ts';
import { modelKey, type MeshModel, type ModelOptions, type ResourceCondition } from '#controller/model/types.ts';
import { convertAuthorizationPolicy, type ConvertedPolicy } from '#controller/model/authorization.ts';
import { convertL7AuthorizationPolicy } from '#controller/model/l7-authorization.ts';
import { compileRoutes } from '#controller/model/routes.ts';
import { compileIstioTraffic } from '#controller/model/istio-traffic.ts';
import { compileRateLimits } from '#controller/model/rate-limits.ts';
import { compileTelemetry, type CompiledTelemetry } from '#controller/model/telemetry.ts';
import { objectKey } from '#controller/source/types.ts';
import { fieldConditions } from '#controller/status/field-conditions.ts';
import { sameContext, snapshotContext, type BuildContext } from '#controller/model/build-context.ts';
import { podIsLive, podIsRunning, podWantsMesh, serviceAccountOf } from '#controller/model/enrollment.ts';
import { ObjectMemo } from '#controller/model/object-memo.ts';
import { convertPeerAuthentications, type MeshWorkloadRef } from '#controller/model/peer-authentication.ts';
import { SelectorPolicyIndex } from '#controller/model/policy-index.ts';
import { ServiceIndex } from '#controller/model/service-index.ts';
import { hasNamedTargetPort, serviceHostname, toMeshService } from '#controller/model/services.ts';
import { defaultWaypointAddress, indexWaypoints, resolveWaypoint, type Waypoint, type WaypointAddressLookup } from '#controller/model/waypoints.ts';
import { sameAddress, sameItems, sameWorkloadInputs, ServicePortShapes, toWorkload, workloadUid, type WorkloadInputs } from '#controller/model/workload.ts';

export interface BuildExtensions {
  /** How waypoint addresses are found; local mode wraps the default with its own deployments. */
  waypointAddress?: WaypointAddressLookup;
}

/** A resource with its model key, as the memos keep them. */
interface Keyed {
  key: string;
  resource: Resource;
}

const keyed = (resource: Resource): Keyed => ({ key: modelKey(resource), resource });

interface ServiceInputs {
  slices: readonly EndpointSlice[] | undefined;
  waypoint: GatewayAddress | undefined;
}

type Converted = ConvertedPolicy & { keyed?: Keyed };

/** What one pod contributes to a model. */
interface PodOutcome {
  pod: Pod;
  /** SPIFFE id, for enrolled pods that can still run on their node. */
  identity: { node: string; id: string; trustDomain: string } | undefined;
  /** The pod's waypoint binding, reported once per build. */
  condition: ResourceCondition | undefined;
  /** Running pods only. */
  workload: { inputs: WorkloadInputs; keyed: Keyed } | undefined;
}

/** Everything a pod's outcome is made from besides the pod, for one build. */
interface PodContext {
  /** Changes whenever anything below differs from the previous build's. */
  epoch: number;
  objects: ClusterObjects;
  options: ModelOptions;
  waypoints: ReadonlyMap<string, Waypoint>;
  services: ServiceIndex;
  serviceSlices: ReadonlyMap<Service, readonly EndpointSlice[] | undefined>;
  policies: SelectorPolicyIndex;
  attach: ReadonlyMap<string, readonly string[]>;
  shapes: ServicePortShapes;
  /** SPIFFE ids by `namespace/service account`, made once per build. */
  identities: Map<string, string>;
  telemetry: CompiledTelemetry;
}

const NO_SLICES: readonly (readonly EndpointSlice[] | undefined)[] = [];

/**
 * Builds models one after another, reusing what the previous build made from unchanged
 * objects. Its results are exactly a fresh build's; only the work differs.
 */
export class ModelBuilder {
  readonly #services = new ObjectMemo<Service, ServiceInputs, Keyed>(
    (a, b) => sameItems(a.slices, b.slices) && sameAddress(a.waypoint, b.waypoint),
    serviceResource,
  );
  readonly #policies = new ObjectMemo<AuthorizationPolicy, string, Converted>((a, b) => a === b, convertPolicy);
  /** Keyed by the context epoch: an unchanged pod in an unchanged context is reused whole. */
  readonly #pods = new ObjectMemo<Pod, number, PodOutcome, PodContext>((a, b) => a === b, podOutcome);
  #context: BuildContext | undefined;
  #epoch = 0;

  build(objects: ClusterObjects, options: ModelOptions, extensions: BuildExtensions = {}): MeshModel {
    const memos = [this.#services, this.#policies, this.#pods];
    for (const m of memos) m.begin();
    const resources = new Map<string, Resource>();
    const conditions: ResourceCondition[] = [];
    const add = (k: Keyed): void => void resources.set(k.key, k.resource);
    const nsLabels = (ns: string): Readonly<Record<string, string>> => objects.namespaces.get(ns)?.metadata.labels ?? {};

    const { waypoints, conditions: waypointConditions } = indexWaypoints(objects, options.trustDomain, extensions.waypointAddress ?? defaultWaypointAddress);
    conditions.push(...waypointConditions);

    const serviceIndex = new ServiceIndex(objects);
    // Slices matter only to named target ports; other services ignore slice changes.
    const serviceSlices = new Map<Service, readonly EndpointSlice[] | undefined>();
    const waypointKeyByIdentity = new Map([...waypoints].map(([k, wp]) => [wp.identity, k]));
    /** `<namespace>/<name>` of a Service → `<namespace>/<gateway>` of the waypoint it uses. */
    const serviceWaypoint = new Map<string, string>();
    for (const [key, svc] of serviceIndex.meshServices) {
      const res = resolveWaypoint({ kind: 'Service', metadata: svc.metadata }, nsLabels(svc.metadata.namespace), waypoints);
      if (res.condition !== undefined) conditions.push(res.condition);
      const wpKey = res.waypoint === undefined ? undefined : waypointKeyByIdentity.get(res.waypoint.identity);
      if (wpKey !== undefined) serviceWaypoint.set(objectKey(svc.metadata), wpKey);
      const inputs = { slices: hasNamedTargetPort(svc) ? serviceIndex.slicesOf(svc) : undefined, waypoint: res.waypoint };
      serviceSlices.set(svc, inputs.slices);
      add(this.#services.get(key, svc, inputs, undefined));
    }

    // Selector policies, indexed by namespace so workloads find the ones selecting them.
    const selectorPolicies = new SelectorPolicyIndex(options.rootNamespace);
    for (const [key, policy] of objects.authorizationPolicies) {
      const converted = this.#policies.get(key, policy, options.rootNamespace, undefined);
      conditions.push(...converted.conditions);
      if (converted.authorization === undefined || converted.keyed === undefined) continue;
      add(converted.keyed);
      if (converted.selector !== undefined) {
        selectorPolicies.add(resourceKey.authorization(converted.authorization), policy.metadata.namespace, converted.selector);
      }
    }

    // What waypoints enforce: route tables per Service and L7 policies per waypoint.
    const compiled = compileRoutes(objects, { trustDomain: options.trustDomain, waypointOfService: (k) => serviceWaypoint.get(k) });
    // VirtualServices and DestinationRules join the same tables: one table per Service, one path in the waypoint.
    const traffic = compileIstioTraffic(objects, compiled.routes, { clusterId: options.clusterId, rootNamespace: options.rootNamespace, waypointOfService: (k) => serviceWaypoint.get(k) });
    // BackendTrafficPolicy rate limits ride on the same tables.
    const limited = compileRateLimits(objects, traffic.routes, { waypointOfService: (k) => serviceWaypoint.get(k), isWaypoint: (k) => waypoints.has(k) });
    for (const table of limited.routes) add(keyed({ kind: 'routes', key: resourceKey.routes(table), value: table }));
    conditions.push(...compiled.conditions, ...traffic.conditions, ...limited.conditions);
    // Gateways and routes with fields weft does not know say so in their own condition.
    conditions.push(...fieldConditions(objects));
    const l7Context = {
      rootNamespace: options.rootNamespace,
      waypointOfGateway: (k: string) => waypoints.has(k),
      waypointOfService: (k: string) => serviceWaypoint.get(k),
      serviceHostname: (k: string) => {
        const svc = objects.services.get(k);
        return svc === undefined ? undefined : serviceHostname(svc);
      },
      waypoints: () => waypoints.keys(),
    };
    for (const policy of objects.authorizationPolicies.values()) {
      if (policy.spec.targetRef === undefined && policy.spec.targetRefs.length === 0) continue;
      const l7 = convertL7AuthorizationPolicy(policy, l7Context);
      for (const a of l7.authorizations) add(keyed({ kind: 'l7authorization', key: resourceKey.l7authorization(a), value: a }));
      conditions.push(...l7.conditions);
    }

    // Telemetry: access logging per pod (on its Workload), access logging and tracing per waypoint.
    const telemetry = compileTelemetry(objects.telemetries.values(), {
      rootNamespace: options.rootNamespace, isWaypoint: (k) => waypoints.has(k), waypoints: () => waypoints.keys(),
      ...(options.mesh === undefined ? {} : { mesh: options.mesh }),
    });
    for (const t of telemetry.waypoints) add(keyed({ kind: 'telemetry', key: resourceKey.telemetry(t), value: t }));
    conditions.push(...telemetry.conditions);

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

    const { namespaces, services, endpointSlices, nodes, authorizationPolicies, telemetries } = objects;
    const context: BuildContext = { options, namespaces, services, endpointSlices, nodes, authorizationPolicies, telemetries, waypoints, attach: peer.attach };
    if (this.#context === undefined || !sameContext(this.#context, context)) this.#epoch++;
    this.#context = snapshotContext(context);
    const podContext: PodContext = {
      epoch: this.#epoch, objects, options, waypoints, services: serviceIndex, serviceSlices, policies: selectorPolicies, attach: peer.attach,
      shapes: new ServicePortShapes(), identities: new Map(), telemetry,
    };
    const identitiesByNode = new Map<string, Set<string>>();
    for (const [key, pod] of objects.pods) {
      const outcome = this.#pods.get(key, pod, podContext.epoch, podContext);
      if (outcome.identity !== undefined) {
        const { node, id } = outcome.identity;
        let ids = identitiesByNode.get(node);
        if (ids === undefined) identitiesByNode.set(node, ids = new Set<string>());
        ids.add(id);
      }
      if (outcome.condition !== undefined) conditions.push(outcome.condition);
      if (outcome.workload !== undefined) add(outcome.workload.keyed);
    }
    // After the pods' conditions, as a namespace's conditions are reported in that order.
    conditions.push(...peer.conditions);

    for (const m of memos) m.end();
    return {
      resources,
      conditions: dedupe(conditions),
      identitiesByNode,
      waypointIdentities: new Set([...waypoints.values()].map((wp) => wp.identity)),
    };
  }
}

const shared = new ModelBuilder();

/** The model for these objects; successive calls share one ModelBuilder. */
export function buildModel(objects: ClusterObjects, options: ModelOptions, extensions: BuildExtensions = {}): MeshModel {
  return shared.build(objects, options, extensions);
}

/** A pod's outcome, reusing the previous one's parts whose inputs are unchanged. */
function podOutcome(pod: Pod, _epoch: number, ctx: PodContext, previous: PodOutcome | undefined): PodOutcome {
  const { objects, options } = ctx;
  const { namespace, labels } = pod.metadata;
  const prev = previous?.pod === pod ? previous : undefined;
  const ns = objects.namespaces.get(namespace);
  const inMesh = podWantsMesh(pod, ns);
  const nodeName = pod.spec.nodeName;
  let identity: PodOutcome['identity'];
  if (inMesh && podIsLive(pod) && nodeName !== undefined) {
    identity = prev?.identity?.trustDomain === options.trustDomain
      ? prev.identity
      : { node: nodeName, id: identityOf(ctx, namespace, serviceAccountOf(pod)), trustDomain: options.trustDomain };
  }
  if (!podIsRunning(pod)) return { pod, identity, condition: undefined, workload: undefined };
  let waypoint: GatewayAddress | undefined;
  let condition: ResourceCondition | undefined;
  if (inMesh) {
    ({ waypoint, condition } = resolveWaypoint({ kind: 'Pod', metadata: pod.metadata }, ns?.metadata.labels ?? {}, ctx.waypoints));
  }
  const selected = ctx.policies.selecting(namespace, labels);
  const attached = ctx.attach.size === 0 ? undefined : ctx.attach.get(workloadUid(pod, options.clusterId));
  const services = ctx.services.selecting(pod);
  const inputs: WorkloadInputs = {
    inMesh,
    trustDomain: options.trustDomain,
    clusterId: options.clusterId,
    node: pod.status.hostIP === undefined && nodeName !== undefined ? objects.nodes.get(nodeName) : undefined,
    services,
    slices: services.length === 0 ? NO_SLICES : services.map((svc) => ctx.serviceSlices.get(svc)),
    authorizationPolicies: attached === undefined && selected.length <= 1 ? selected : [...new Set([...selected, ...(attached ?? [])])].sort(),
    waypoint,
    accessLog: inMesh ? ctx.telemetry.accessLogFor(namespace, labels) : undefined,
  };
  const workload = prev?.workload !== undefined && sameWorkloadInputs(prev.workload.inputs, inputs)
    ? prev.workload
    : { inputs, keyed: workloadResource(pod, inputs, ctx.shapes) };
  return { pod, identity, condition, workload };
}

function identityOf(ctx: PodContext, namespace: string, serviceAccount: string): string {
  const key = `${namespace}/${serviceAccount}`;
  let id = ctx.identities.get(key);
  if (id === undefined) ctx.identities.set(key, id = spiffeIdFor(namespace, serviceAccount, ctx.options.trustDomain));
  return id;
}

function workloadResource(pod: Pod, inputs: WorkloadInputs, shapes: ServicePortShapes): Keyed {
  const value = toWorkload(pod, inputs, shapes);
  return keyed({ kind: 'workload', key: resourceKey.workload(value), value });
}

function serviceResource(svc: Service, inputs: ServiceInputs): Keyed {
  const value = toMeshService(svc, inputs.slices ?? []);
  if (inputs.waypoint !== undefined) value.waypoint = inputs.waypoint;
  return keyed({ kind: 'service', key: resourceKey.service(value), value });
}

function convertPolicy(policy: AuthorizationPolicy, rootNamespace: string): Converted {
  const c: Converted = convertAuthorizationPolicy(policy, rootNamespace);
  if (c.authorization !== undefined) c.keyed = authorizationResource(c.authorization);
  return c;
}

function authorizationResource(value: Authorization): Keyed {
  return keyed({ kind: 'authorization', key: resourceKey.authorization(value), value });
}

/** A namespace label reaches many objects; report each condition once. */
function dedupe(conditions: ResourceCondition[]): ResourceCondition[] {
  const seen = new Map<string, ResourceCondition>();
  for (const c of conditions) {
    // Route status is per parent (Gateway API): one condition of a type for each parentRef.
    const parent = 'parentRef' in c ? `/${JSON.stringify(c.parentRef)}` : '';
    seen.set(`${c.kind}/${c.namespace}/${c.name}/${c.type}${parent}`, c);
  }
  return [...seen.values()];
}
