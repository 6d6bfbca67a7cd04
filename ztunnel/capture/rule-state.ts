// What of weft's capture an iptables-save dump shows: the WEFT_ chains and the rules in other
// chains that jump into them. Pure, so install and removal decide from text, not guesses.
import { CAPTURE_TABLES, CHAIN_PREFIX, Chains, type CaptureTable } from './rules.ts';

export interface TableState {
  /** WEFT_ chains declared in the table. */
  chains: string[];
  /** Rules outside WEFT_ chains that jump (or go) to one, verbatim "-A CHAIN ..." lines. */
  jumps: string[];
}

export type WeftRuleState = Record<CaptureTable, TableState>;

const TARGET = new RegExp(`(?:^|\\s)-[jg] ${CHAIN_PREFIX}\\S+`);

export function parseWeftRuleState(iptablesSave: string): WeftRuleState {
  const state: WeftRuleState = { nat: { chains: [], jumps: [] }, mangle: { chains: [], jumps: [] } };
  let table: TableState | undefined;
  for (const raw of iptablesSave.split('\n')) {
    const line = raw.trim();
    if (line.startsWith('*')) {
      const name = line.slice(1);
      table = (CAPTURE_TABLES as readonly string[]).includes(name) ? state[name as CaptureTable] : undefined;
    } else if (table === undefined) {
      continue;
    } else if (line.startsWith(`:${CHAIN_PREFIX}`)) {
      table.chains.push(line.slice(1).split(/\s/)[0] ?? '');
    } else if (line.startsWith('-A ')) {
      const chain = line.split(/\s+/)[1] ?? '';
      if (!chain.startsWith(CHAIN_PREFIX) && TARGET.test(line)) table.jumps.push(line);
    }
  }
  return state;
}

/** True when both tables hook PREROUTING and OUTPUT into weft's chains. */
export function hooksComplete(state: WeftRuleState): boolean {
  return CAPTURE_TABLES.every((table) => {
    const { jumps, chains } = state[table];
    return Object.values(Chains).every((chain) => chains.includes(chain)) &&
      jumps.some((j) => j.startsWith('-A PREROUTING ') && j.includes(`-j ${Chains.prerouting}`)) &&
      jumps.some((j) => j.startsWith('-A OUTPUT ') && j.includes(`-j ${Chains.output}`));
  });
}
