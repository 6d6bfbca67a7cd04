// The KnownFields condition for Gateways and routes with fields weft does not know (the
// parser lists them; weft ignores them and uses the rest as written). The policy kinds say
// the same in their Accepted condition instead, since there the fields change what is
// enforced; a separate type here leaves Accepted to the waypoint and route models.
import type { ClusterObjects, FieldProblem, ObjectMeta } from '#controller/source/types.ts';
import { formatFieldProblems } from '#controller/source/fields.ts';
import type { ResourceCondition } from '#controller/model/types.ts';

export const KNOWN_FIELDS = 'KnownFields';

interface WithFields {
  kind: string;
  metadata: ObjectMeta;
  fieldProblems?: ReadonlyArray<FieldProblem>;
}

/** One False KnownFields condition per Gateway, HTTPRoute or GRPCRoute with unknown fields. */
export function fieldConditions(objects: ClusterObjects): ResourceCondition[] {
  const out: ResourceCondition[] = [];
  const each = (all: Iterable<WithFields>): void => {
    for (const o of all) {
      if (o.fieldProblems === undefined || o.fieldProblems.length === 0) continue;
      out.push({
        kind: o.kind,
        namespace: o.metadata.namespace,
        name: o.metadata.name,
        type: KNOWN_FIELDS,
        status: 'False',
        reason: 'UnknownField',
        message: `${formatFieldProblems(o.fieldProblems)}; weft ignores these and uses the rest of the ${o.kind} as written`,
      });
    }
  };
  each(objects.gateways.values());
  each(objects.httpRoutes.values());
  each(objects.grpcRoutes.values());
  return out;
}
