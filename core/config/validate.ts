// Validators for pushed resources: every field of a Workload, Service or Authorization is
// checked and copied into a fresh typed value. A resource that fails is rejected with its
// reason; the list of rejections is what a proxy NACKs, while the valid rest is applied.
import {
  FieldError, arr, bool, isObj, item, obj, oneOf, optStr, port, record, str,
} from './fields.ts';
import type { Obj } from './fields.ts';
import { parseL7Authorization } from './l7-authorization.ts';
import { parseServiceRoutes } from './routes.ts';
import { parseWaypointTelemetry } from './telemetry.ts';
import { parseStringMatch } from './string-match.ts';
import {
  PolicyAction, PolicyScope, ResourceKind, TunnelProtocol, WorkloadStatus, resourceKey,
} from './model.ts';
import type {
  Authorization, AuthorizationClause, AuthorizationMatch, AuthorizationRule, GatewayAddress, PortMap,
  Resource, ResourceRef, Service, ServicePort, Workload,
} from './model.ts';

/** A resource a proxy refused, and why: one entry of a NACK. */
export interface RejectedResource {
  kind: string;
  key: string;
  reason: string;
}

const KINDS = Object.values(ResourceKind);

function gatewayAddress(v: unknown, path: string): GatewayAddress {
  const o = obj(v, path);
  const identity = str(o, 'identity', path);
  if (!identity.startsWith('spiffe://')) throw new FieldError(`${path}.identity`, 'must be a SPIFFE id');
  return { address: item.ip(o['address'], `${path}.address`), hbonePort: port(o, 'hbonePort', path), identity };
}

function portMap(v: unknown, path: string): PortMap {
  const o = obj(v, path);
  const out: PortMap = {};
  for (const [k, target] of Object.entries(o)) {
    if (!/^\d{1,5}$/.test(k) || Number(k) < 1 || Number(k) > 65535) throw new FieldError(path, `key ${JSON.stringify(k)} is not a port`);
    out[k] = item.port(target, `${path}[${k}]`);
  }
  return out;
}

export function parseWorkload(v: unknown, path = 'workload'): Workload {
  const o = obj(v, path);
  const w: Workload = {
    uid: str(o, 'uid', path),
    name: str(o, 'name', path),
    namespace: str(o, 'namespace', path),
    addresses: arr(o, 'addresses', path, item.ip),
    node: str(o, 'node', path),
    tunnelProtocol: oneOf(o, 'tunnelProtocol', path, Object.values(TunnelProtocol)),
    trustDomain: str(o, 'trustDomain', path),
    serviceAccount: str(o, 'serviceAccount', path),
    canonicalName: str(o, 'canonicalName', path, { empty: true }),
    canonicalRevision: str(o, 'canonicalRevision', path, { empty: true }),
    workloadType: oneOf(o, 'workloadType', path, ['pod'] as const),
    workloadName: str(o, 'workloadName', path, { empty: true }),
    services: record(o, 'services', path, portMap),
    authorizationPolicies: arr(o, 'authorizationPolicies', path, item.string),
    status: oneOf(o, 'status', path, Object.values(WorkloadStatus)),
    clusterId: str(o, 'clusterId', path, { empty: true }),
  };
  if (o['nodeAddress'] !== undefined) w.nodeAddress = item.ip(o['nodeAddress'], `${path}.nodeAddress`);
  if (o['waypoint'] !== undefined) w.waypoint = gatewayAddress(o['waypoint'], `${path}.waypoint`);
  if (o['accessLog'] !== undefined) w.accessLog = bool(o, 'accessLog', path);
  return w;
}

function servicePort(v: unknown, path: string): ServicePort {
  const o = obj(v, path);
  const p: ServicePort = { servicePort: port(o, 'servicePort', path), targetPort: port(o, 'targetPort', path, true) };
  const appProtocol = optStr(o, 'appProtocol', path);
  if (appProtocol !== undefined) p.appProtocol = appProtocol;
  return p;
}

export function parseService(v: unknown, path = 'service'): Service {
  const o = obj(v, path);
  const s: Service = {
    name: str(o, 'name', path),
    namespace: str(o, 'namespace', path),
    hostname: str(o, 'hostname', path),
    addresses: arr(o, 'addresses', path, item.ip),
    ports: arr(o, 'ports', path, servicePort),
    subjectAltNames: arr(o, 'subjectAltNames', path, item.string),
  };
  if (o['waypoint'] !== undefined) s.waypoint = gatewayAddress(o['waypoint'], `${path}.waypoint`);
  return s;
}

function authorizationMatch(v: unknown, path: string): AuthorizationMatch {
  const o = obj(v, path);
  return {
    namespaces: arr(o, 'namespaces', path, parseStringMatch),
    notNamespaces: arr(o, 'notNamespaces', path, parseStringMatch),
    principals: arr(o, 'principals', path, parseStringMatch),
    notPrincipals: arr(o, 'notPrincipals', path, parseStringMatch),
    serviceAccounts: arr(o, 'serviceAccounts', path, parseStringMatch),
    notServiceAccounts: arr(o, 'notServiceAccounts', path, parseStringMatch),
    sourceIps: arr(o, 'sourceIps', path, item.cidr),
    notSourceIps: arr(o, 'notSourceIps', path, item.cidr),
    destinationIps: arr(o, 'destinationIps', path, item.cidr),
    notDestinationIps: arr(o, 'notDestinationIps', path, item.cidr),
    destinationPorts: arr(o, 'destinationPorts', path, item.port),
    notDestinationPorts: arr(o, 'notDestinationPorts', path, item.port),
  };
}

function clause(v: unknown, path: string): AuthorizationClause {
  return { matches: arr(obj(v, path), 'matches', path, authorizationMatch) };
}

function rule(v: unknown, path: string): AuthorizationRule {
  return { clauses: arr(obj(v, path), 'clauses', path, clause) };
}

export function parseAuthorization(v: unknown, path = 'authorization'): Authorization {
  const o = obj(v, path);
  return {
    name: str(o, 'name', path),
    namespace: str(o, 'namespace', path),
    scope: oneOf(o, 'scope', path, Object.values(PolicyScope)),
    action: oneOf(o, 'action', path, Object.values(PolicyAction)),
    rules: arr(o, 'rules', path, rule),
    dryRun: bool(o, 'dryRun', path),
  };
}

/** Reads one pushed resource; the key must be the one its value implies. */
export function parseResource(v: unknown): Resource {
  const o = obj(v, 'resource');
  const kind = oneOf(o, 'kind', 'resource', KINDS);
  const key = str(o, 'key', 'resource');
  switch (kind) {
    case 'workload': {
      const value = parseWorkload(o['value'], 'value');
      if (resourceKey.workload(value) !== key) throw new FieldError('key', 'must equal value.uid');
      return { kind, key, value };
    }
    case 'service': {
      const value = parseService(o['value'], 'value');
      if (resourceKey.service(value) !== key) throw new FieldError('key', 'must equal <namespace>/<hostname>');
      return { kind, key, value };
    }
    case 'authorization': {
      const value = parseAuthorization(o['value'], 'value');
      if (resourceKey.authorization(value) !== key) throw new FieldError('key', 'must equal <namespace>/<name>');
      return { kind, key, value };
    }
    case 'routes': {
      const value = parseServiceRoutes(o['value'], 'value');
      if (resourceKey.routes(value) !== key) throw new FieldError('key', 'must equal value.service');
      return { kind, key, value };
    }
    case 'l7authorization': {
      const value = parseL7Authorization(o['value'], 'value');
      if (resourceKey.l7authorization(value) !== key) throw new FieldError('key', 'must equal <waypoint>/<namespace>/<name>');
      return { kind, key, value };
    }
    case 'telemetry': {
      const value = parseWaypointTelemetry(o['value'], 'value');
      if (resourceKey.telemetry(value) !== key) throw new FieldError('key', 'must equal value.waypoint');
      return { kind, key, value };
    }
  }
}

function describe(v: unknown): { kind: string; key: string } {
  const o: Obj = isObj(v) ? v : {};
  return {
    kind: typeof o['kind'] === 'string' ? o['kind'] : '?',
    key: typeof o['key'] === 'string' ? o['key'] : '?',
  };
}

/** Splits pushed resources into the valid ones and the rejected ones with reasons. */
export function validateResources(items: readonly unknown[]): { valid: Resource[]; rejected: RejectedResource[] } {
  const valid: Resource[] = [];
  const rejected: RejectedResource[] = [];
  for (const v of items) {
    try {
      valid.push(parseResource(v));
    } catch (err) {
      if (!(err instanceof FieldError)) throw err;
      rejected.push({ ...describe(v), reason: err.message });
    }
  }
  return { valid, rejected };
}

/** Reads a `{ kind, key }` reference to a removed resource. */
export function parseResourceRef(v: unknown, path: string): ResourceRef {
  const o = obj(v, path);
  return { kind: oneOf(o, 'kind', path, KINDS), key: str(o, 'key', path) };
}
