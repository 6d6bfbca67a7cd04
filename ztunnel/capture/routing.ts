// The policy route that sends replies to ztunnel's transparent sockets back to lo: the fwmark
// rule and table 100's local default route, read from `ip -j` output and written as
// `ip -batch` lines. Pure.
import { CONNMARK_ZTUNNEL, ROUTE_TABLE_ZTUNNEL } from '#core/ports.ts';

const FWMARK = `0x${CONNMARK_ZTUNNEL.toString(16)}`;
const FWMASK = '0xfff';
const TABLE = String(ROUTE_TABLE_ZTUNNEL);

export const RULE_SPEC = `fwmark ${FWMARK}/${FWMASK} lookup ${TABLE}`;
export const ROUTE_SPEC = `local 0.0.0.0/0 dev lo table ${TABLE}`;

export interface RoutingState {
  /** How many copies of weft's fwmark rule exist (a repeated `ip rule add` duplicates it). */
  rules: number;
  route: boolean;
}

function entries(json: unknown): Record<string, unknown>[] {
  if (!Array.isArray(json)) return [];
  return json.filter((e): e is Record<string, unknown> => typeof e === 'object' && e !== null);
}

function sameHex(value: unknown, want: string): boolean {
  return typeof value === 'string' && Number.parseInt(value, 16) === Number.parseInt(want, 16);
}

/** Counts weft's rules in `ip -j rule show` output. */
export function countMarkRules(ipRuleJson: unknown): number {
  return entries(ipRuleJson).filter((r) =>
    sameHex(r['fwmark'], FWMARK) && sameHex(r['fwmask'] ?? '0xffffffff', FWMASK) && String(r['table']) === TABLE).length;
}

/** Whether `ip -j route show table 100` output holds the local default route via lo. */
export function hasLocalRoute(ipRouteJson: unknown): boolean {
  return entries(ipRouteJson).some((r) =>
    r['type'] === 'local' && (r['dst'] === 'default' || r['dst'] === '0.0.0.0/0') && r['dev'] === 'lo');
}

/** `ip -batch` lines bringing routing to installed (want=true) or removed, or [] if already so. */
export function routingChanges(now: RoutingState, want: boolean): string[] {
  if (want) {
    return [...(now.rules === 0 ? [`rule add ${RULE_SPEC}`] : []), ...(now.route ? [] : [`route add ${ROUTE_SPEC}`])];
  }
  return [...Array.from({ length: now.rules }, () => `rule del ${RULE_SPEC}`), ...(now.route ? [`route del ${ROUTE_SPEC}`] : [])];
}
