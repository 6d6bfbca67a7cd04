// Well-known ports and marks of the mesh; one place, shared by every component.
export const Ports = {
  outbound: 15001,
  inboundPlaintext: 15006,
  hbone: 15008,
  admin: 15000,
  metrics: 15020,
  readiness: 15021,
  /** controller: push stream (WebSocket over TLS) and CA (HTTPS). */
  controllerPush: 15010,
  controllerCa: 15012,
  controllerDashboard: 15014,
} as const;

/** SO_MARK on every ztunnel socket so capture rules let it pass (1337). */
export const ZTUNNEL_MARK = 0x539;
/** connmark for connections ztunnel opened to the app, so replies route back to it. */
export const CONNMARK_ZTUNNEL = 0x111;
export const ROUTE_TABLE_ZTUNNEL = 100;
/** Source address of kubelet probes after the host's SNAT; accepted without capture. */
export const PROBE_SOURCE = '169.254.7.127';
