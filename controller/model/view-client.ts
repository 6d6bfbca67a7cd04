// Who a view is computed for: a ztunnel (by node) or a waypoint (by identity).
export type ViewClient = { kind: 'ztunnel'; node: string } | { kind: 'waypoint'; identity: string };
