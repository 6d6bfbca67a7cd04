// Services indexed once per model build, so a pod finds the services selecting it and a
// service finds its EndpointSlices without scanning every object: the build stays linear in
// the cluster's size instead of pods × services.
import type { ClusterObjects, EndpointSlice, Pod, Service } from '#controller/source/types.ts';
import { Labels, selects } from '#controller/model/labels.ts';

const NO_SLICES: readonly EndpointSlice[] = Object.freeze([]);

interface Candidate {
  svc: Service;
  /** Position in `objects.services`: a pod lists its services in that order. */
  order: number;
}

/** The lookup key of one label pair in one namespace (NUL cannot occur in labels). */
function pairKey(namespace: string, key: string, value: string): string {
  return `${namespace}\0${key}\0${value}`;
}

export class ServiceIndex {
  /** Every service but ExternalName ones, with their keys, in `objects.services` order. */
  readonly meshServices: readonly (readonly [string, Service])[];
  /** Services with a selector, each filed under one of its selector's label pairs. */
  readonly #bySelectorPair = new Map<string, Candidate[]>();
  /** EndpointSlices by `namespace/service name`, in `objects.endpointSlices` order. */
  readonly #slices = new Map<string, EndpointSlice[]>();

  constructor(objects: Pick<ClusterObjects, 'services' | 'endpointSlices'>) {
    const meshServices: [string, Service][] = [];
    let order = 0;
    for (const [key, svc] of objects.services) {
      if (svc.spec.type === 'ExternalName') continue;
      meshServices.push([key, svc]);
      const sel = svc.spec.selector;
      // A selector needs all its pairs, so filing it under its first pair finds every pod it can select.
      const first = sel === undefined ? undefined : Object.keys(sel)[0];
      if (sel === undefined || first === undefined) continue;
      const pair = pairKey(svc.metadata.namespace, first, sel[first] ?? '');
      const bucket = this.#bySelectorPair.get(pair);
      const candidate = { svc, order: order++ };
      if (bucket === undefined) this.#bySelectorPair.set(pair, [candidate]);
      else bucket.push(candidate);
    }
    this.meshServices = meshServices;
    for (const slice of objects.endpointSlices.values()) {
      const name = slice.metadata.labels[Labels.serviceName];
      if (name === undefined) continue;
      const key = `${slice.metadata.namespace}/${name}`;
      const list = this.#slices.get(key);
      if (list === undefined) this.#slices.set(key, [slice]);
      else list.push(slice);
    }
  }

  /**
   * The non-ExternalName services whose (non-empty) selector selects the pod, in
   * `objects.services` order: what `serviceSelectsPod` accepts, without trying every service.
   */
  selecting(pod: Pod): Service[] {
    const { namespace, labels } = pod.metadata;
    let found: Candidate[] | undefined;
    for (const k of Object.keys(labels)) {
      const bucket = this.#bySelectorPair.get(pairKey(namespace, k, labels[k] ?? ''));
      if (bucket === undefined) continue;
      for (const c of bucket) {
        if (c.svc.spec.selector !== undefined && selects(c.svc.spec.selector, labels)) (found ??= []).push(c);
      }
    }
    if (found === undefined) return [];
    if (found.length > 1) found.sort((a, b) => a.order - b.order);
    return found.map((c) => c.svc);
  }

  /** The service's EndpointSlices (by the `kubernetes.io/service-name` label), as `slicesOf` lists them. */
  slicesOf(svc: Service): readonly EndpointSlice[] {
    return this.#slices.get(`${svc.metadata.namespace}/${svc.metadata.name}`) ?? NO_SLICES;
  }
}
