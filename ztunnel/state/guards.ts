// Interim shape checks for pushed resources, used until core/config/protocol.ts provides the
// shared validators. Each returns a reason string when the value is malformed, else undefined.
import net from 'node:net';
import type { Resource } from '#core/config/model.ts';

type Obj = Record<string, unknown>;

const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const isStr = (v: unknown): v is string => typeof v === 'string';
const isPort = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v) && v > 0 && v < 65536;
const isStrArr = (v: unknown): v is string[] => Array.isArray(v) && v.every(isStr);

function isCidr(v: unknown): boolean {
  if (!isStr(v)) return false;
  const [ip, bits, extra] = v.split('/');
  if (extra !== undefined || ip === undefined) return false;
  const family = net.isIP(ip);
  if (family === 0) return false;
  if (bits === undefined) return true;
  const n = Number(bits);
  return /^\d+$/.test(bits) && n <= (family === 4 ? 32 : 128);
}

function stringMatchProblem(v: unknown): string | undefined {
  if (!isObj(v)) return 'string match is not an object';
  const keys = Object.keys(v);
  if (keys.length !== 1) return 'string match must have exactly one of exact/prefix/suffix/presence';
  const k = keys[0];
  if (k === 'presence') return v['presence'] === true ? undefined : 'presence must be true';
  if (k === 'exact' || k === 'prefix' || k === 'suffix') return isStr(v[k]) ? undefined : `${k} must be a string`;
  return `unknown string match ${String(k)}`;
}

function gatewayProblem(v: unknown): string | undefined {
  if (v === undefined) return undefined;
  if (!isObj(v) || !isStr(v['address']) || net.isIP(v['address']) === 0 || !isPort(v['hbonePort']) || !isStr(v['identity'])) {
    return 'waypoint must be { address, hbonePort, identity }';
  }
  return undefined;
}

function workloadProblem(w: unknown): string | undefined {
  if (!isObj(w)) return 'workload is not an object';
  for (const f of ['uid', 'name', 'namespace', 'node', 'trustDomain', 'serviceAccount', 'canonicalName', 'canonicalRevision', 'workloadName', 'clusterId']) {
    if (!isStr(w[f])) return `workload.${f} must be a string`;
  }
  if (w['uid'] === '') return 'workload.uid is empty';
  if (!isStrArr(w['addresses']) || !w['addresses'].every((a) => net.isIP(a) !== 0)) return 'workload.addresses must be IP addresses';
  if (w['tunnelProtocol'] !== 'HBONE' && w['tunnelProtocol'] !== 'NONE') return 'workload.tunnelProtocol must be HBONE or NONE';
  if (w['status'] !== 'HEALTHY' && w['status'] !== 'UNHEALTHY') return 'workload.status must be HEALTHY or UNHEALTHY';
  if (!isStrArr(w['authorizationPolicies'])) return 'workload.authorizationPolicies must be strings';
  const services = w['services'];
  if (!isObj(services)) return 'workload.services must be an object';
  for (const [k, pm] of Object.entries(services)) {
    if (!isObj(pm) || !Object.entries(pm).every(([sp, tp]) => isPort(Number(sp)) && isPort(tp))) return `workload.services[${k}] must map ports to ports`;
  }
  if (w['nodeAddress'] !== undefined && (!isStr(w['nodeAddress']) || net.isIP(w['nodeAddress']) === 0)) return 'workload.nodeAddress must be an IP address';
  return gatewayProblem(w['waypoint']);
}

function serviceProblem(s: unknown): string | undefined {
  if (!isObj(s)) return 'service is not an object';
  for (const f of ['name', 'namespace', 'hostname']) if (!isStr(s[f]) || s[f] === '') return `service.${f} must be a non-empty string`;
  if (!isStrArr(s['addresses']) || !s['addresses'].every((a) => net.isIP(a) !== 0)) return 'service.addresses must be IP addresses';
  if (!Array.isArray(s['ports']) || !s['ports'].every((p) => isObj(p) && isPort(p['servicePort']) && isPort(p['targetPort']))) {
    return 'service.ports must be { servicePort, targetPort }';
  }
  if (!isStrArr(s['subjectAltNames'])) return 'service.subjectAltNames must be strings';
  return gatewayProblem(s['waypoint']);
}

const MATCH_STRING_FIELDS = ['namespaces', 'notNamespaces', 'principals', 'notPrincipals', 'serviceAccounts', 'notServiceAccounts'];
const MATCH_IP_FIELDS = ['sourceIps', 'notSourceIps', 'destinationIps', 'notDestinationIps'];
const MATCH_PORT_FIELDS = ['destinationPorts', 'notDestinationPorts'];

function matchProblem(m: unknown): string | undefined {
  if (!isObj(m)) return 'match is not an object';
  for (const f of MATCH_STRING_FIELDS) {
    const v = m[f];
    if (!Array.isArray(v)) return `match.${f} must be a list`;
    for (const sm of v) {
      const p = stringMatchProblem(sm);
      if (p !== undefined) return `match.${f}: ${p}`;
    }
  }
  for (const f of MATCH_IP_FIELDS) {
    const v = m[f];
    if (!Array.isArray(v) || !v.every(isCidr)) return `match.${f} must be a list of CIDRs`;
  }
  for (const f of MATCH_PORT_FIELDS) {
    const v = m[f];
    if (!Array.isArray(v) || !v.every(isPort)) return `match.${f} must be a list of ports`;
  }
  return undefined;
}

function authorizationProblem(a: unknown): string | undefined {
  if (!isObj(a)) return 'authorization is not an object';
  if (!isStr(a['name']) || !isStr(a['namespace'])) return 'authorization.name and namespace must be strings';
  if (a['scope'] !== 'GLOBAL' && a['scope'] !== 'NAMESPACE' && a['scope'] !== 'WORKLOAD_SELECTOR') return 'authorization.scope must be GLOBAL, NAMESPACE or WORKLOAD_SELECTOR';
  if (a['action'] !== 'ALLOW' && a['action'] !== 'DENY') return `authorization.action ${String(a['action'])} is not supported at L4 (ALLOW or DENY)`;
  if (typeof a['dryRun'] !== 'boolean') return 'authorization.dryRun must be a boolean';
  const rules = a['rules'];
  if (!Array.isArray(rules)) return 'authorization.rules must be a list';
  for (const r of rules) {
    if (!isObj(r) || !Array.isArray(r['clauses'])) return 'rule.clauses must be a list';
    for (const c of r['clauses']) {
      if (!isObj(c) || !Array.isArray(c['matches'])) return 'clause.matches must be a list';
      for (const m of c['matches']) {
        const p = matchProblem(m);
        if (p !== undefined) return p;
      }
    }
  }
  return undefined;
}

/** Why a pushed resource is unusable (undefined: it is well-formed). */
export function resourceProblem(r: unknown): string | undefined {
  if (!isObj(r) || !isStr(r['key'])) return 'resource must be { kind, key, value }';
  switch (r['kind']) {
    case 'workload': return workloadProblem(r['value']);
    case 'service': return serviceProblem(r['value']);
    case 'authorization': return authorizationProblem(r['value']);
    default: return `unknown resource kind ${String(r['kind'])}`;
  }
}

export function isResource(r: unknown): r is Resource {
  return resourceProblem(r) === undefined;
}
