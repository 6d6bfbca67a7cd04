// The response flag a finished connection is reported with (Istio's TCP metrics and the access
// log share Envoy's vocabulary): `-` when both sides finished cleanly, `DC` when the
// downstream (the side that opened the connection) went away mid-way, `UR` when the upstream
// reset it. The first side to break decides; the other side's teardown follows from it.
export type BrokenSide = 'downstream' | 'upstream' | undefined;
export type CloseFlag = '-' | 'DC' | 'UR';

export function closeFlag(broken: BrokenSide): CloseFlag {
  switch (broken) {
    case undefined: return '-';
    case 'downstream': return 'DC';
    case 'upstream': return 'UR';
  }
}

/** For splice results, where `a` is the downstream and `b` the upstream. */
export function sideOf(broken: 'a' | 'b' | undefined): BrokenSide {
  return broken === undefined ? undefined : broken === 'a' ? 'downstream' : 'upstream';
}
