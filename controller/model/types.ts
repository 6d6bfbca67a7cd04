// What the model builder produces from the cluster: every resource proxies may receive,
// the status conditions to report on user objects, and the identity facts the CA needs.
import type { Resource } from '#core/config/model.ts';
import type { MeshConfig } from '#controller/model/mesh-config.ts';

export interface ResourceCondition {
  /** Kubernetes kind, e.g. AuthorizationPolicy. */
  kind: string;
  namespace: string;
  name: string;
  /** e.g. Accepted, WaypointBound. */
  type: string;
  status: 'True' | 'False';
  reason: string;
  message: string;
}

export interface MeshModel {
  /** Keyed `${resource.kind}/${resource.key}`. */
  resources: ReadonlyMap<string, Resource>;
  conditions: ResourceCondition[];
  /** Node name → SPIFFE ids of the enrolled pods running there. */
  identitiesByNode: ReadonlyMap<string, ReadonlySet<string>>;
  /** SPIFFE ids of every waypoint. */
  waypointIdentities: ReadonlySet<string>;
}

export interface ModelOptions {
  trustDomain: string;
  clusterId: string;
  /** Policies without a selector here apply mesh-wide (Istio: istio-system). */
  rootNamespace: string;
  /** Istio's MeshConfig (extension providers, defaults); none when the controller has no mesh config. */
  mesh?: MeshConfig;
}

/** The model's key for a resource. */
export function modelKey(resource: Pick<Resource, 'kind' | 'key'>): string {
  return `${resource.kind}/${resource.key}`;
}
