// The in-pod capture rules as iptables-restore input: pure rendering, so the exact text is
// table-tested and applied in one atomic iptables-restore call. Rules live in WEFT_ chains
// hooked from the built-in chains, which makes removal exact (see rule-state.ts).
import net from 'node:net';
import { WeftError } from '#core/errors.ts';
import { CONNMARK_ZTUNNEL, PROBE_SOURCE, Ports, ZTUNNEL_MARK } from '#core/ports.ts';
import type { WeftRuleState } from './rule-state.ts';

export interface CaptureRuleOptions {
  /** Source of kubelet probes after the host's SNAT; they reach the app uncaptured. */
  probeSource?: string;
}

/** Chain names weft owns; everything named WEFT_* in nat and mangle is ours to remove. */
export const CHAIN_PREFIX = 'WEFT_';
export const Chains = { prerouting: 'WEFT_PREROUTING', output: 'WEFT_OUTPUT' } as const;
export const CAPTURE_TABLES = ['nat', 'mangle'] as const;
export type CaptureTable = (typeof CAPTURE_TABLES)[number];

/** Only the low 12 bits are ours, so other software can use the rest of the mark. */
const MASK = 0xfff;
const hex = (n: number): string => `0x${n.toString(16)}`;
const MARK = `${hex(ZTUNNEL_MARK)}/${hex(MASK)}`;
const CONNMARK = `${hex(CONNMARK_ZTUNNEL)}/${hex(MASK)}`;

function natRules(probeSource: string): string[] {
  const pre = Chains.prerouting;
  const out = Chains.output;
  return [
    // Inbound: everything TCP goes to 15006 except probes, loopback, HBONE (a real listener
    // in the pod) and ztunnel's own packets.
    `-A ${pre} -s ${probeSource}/32 -p tcp -j ACCEPT`,
    `-A ${pre} -d 127.0.0.0/8 -j RETURN`,
    `-A ${pre} -p tcp -m tcp --dport ${Ports.hbone} -j RETURN`,
    `-A ${pre} -m mark --mark ${MARK} -j RETURN`,
    `-A ${pre} -p tcp -j REDIRECT --to-ports ${Ports.inboundPlaintext}`,
    // Outbound: everything TCP the app sends goes to 15001, except loopback, traffic to the
    // pod's own addresses (routed over lo) and ztunnel's own packets.
    `-A ${out} -d 127.0.0.0/8 -j RETURN`,
    `-A ${out} -o lo -j RETURN`,
    `-A ${out} -m mark --mark ${MARK} -j RETURN`,
    `-A ${out} -p tcp -j REDIRECT --to-ports ${Ports.outbound}`,
  ];
}

function mangleRules(): string[] {
  return [
    // A packet of ztunnel's arriving over lo is ztunnel talking to the app from the caller's
    // address: remember that on the connection...
    `-A ${Chains.prerouting} -m mark --mark ${MARK} -j CONNMARK --set-xmark ${CONNMARK}`,
    // ...so the app's replies get the fwmark back, and the fwmark rule routes them to lo
    // (table 100) instead of out towards the caller's real address.
    `-A ${Chains.output} -m connmark --mark ${CONNMARK} -j CONNMARK --restore-mark --nfmask 0xffffffff --ctmask 0xffffffff`,
  ];
}

const JUMPS = [`-A PREROUTING -j ${Chains.prerouting}`, `-A OUTPUT -j ${Chains.output}`];

/**
 * iptables-restore --noflush input installing capture. With `present` (what is installed
 * now), existing jumps into WEFT_ chains are deleted first and stale WEFT_ chains dropped,
 * so installing twice leaves exactly one copy. Declaring a chain flushes it.
 */
export function renderCaptureRules(opts: CaptureRuleOptions = {}, present?: WeftRuleState): string {
  const probeSource = opts.probeSource ?? PROBE_SOURCE;
  if (!net.isIPv4(probeSource)) {
    throw new WeftError('WEFT_ERR_CAPTURE_CONFIG', `probe source ${JSON.stringify(probeSource)} is not an IPv4 address`);
  }
  const lines: string[] = [];
  for (const table of CAPTURE_TABLES) {
    const now = present?.[table];
    const ours: readonly string[] = [Chains.prerouting, Chains.output];
    const stale = (now?.chains ?? []).filter((chain) => !ours.includes(chain));
    lines.push(
      `*${table}`,
      ...(now?.jumps ?? []).map(deleteOf),
      ...ours.map((chain) => `:${chain} - [0:0]`),
      ...stale.map((chain) => `:${chain} - [0:0]`),
      ...stale.map((chain) => `-X ${chain}`),
      ...(table === 'nat' ? natRules(probeSource) : mangleRules()),
      ...JUMPS,
      'COMMIT',
    );
  }
  return `${lines.join('\n')}\n`;
}

/** iptables-restore --noflush input removing everything present, or undefined when nothing is. */
export function renderCaptureRemoval(present: WeftRuleState): string | undefined {
  const lines: string[] = [];
  for (const table of CAPTURE_TABLES) {
    const { jumps, chains } = present[table];
    if (jumps.length === 0 && chains.length === 0) continue;
    lines.push(
      `*${table}`,
      ...jumps.map(deleteOf),
      // Flush all before deleting any: a chain still referenced by another cannot go.
      ...chains.map((chain) => `:${chain} - [0:0]`),
      ...chains.map((chain) => `-X ${chain}`),
      'COMMIT',
    );
  }
  return lines.length === 0 ? undefined : `${lines.join('\n')}\n`;
}

function deleteOf(appendRule: string): string {
  return appendRule.replace(/^-A /, '-D ');
}
