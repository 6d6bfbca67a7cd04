// Inbound HBONE (15008 inside each pod): one HboneServer for the node, fed by every pod's
// listener. The local address picks the pod, hence its certificate; each CONNECT is
// authorized with the peer's SPIFFE id, then dialed to the app from the caller's address.
import type net from 'node:net';
import { abort } from '#core/net/abort.ts';
import { WeftError } from '#core/errors.ts';
import { HboneServer, type HboneRequestContext, type HboneServerEvent } from '#core/hbone/server.ts';
import { ZTUNNEL_MARK } from '#core/ports.ts';
import { selfCallReason } from '#ztunnel/proxy/illegal-port.ts';
import { forwardedSource, forwardedSourcePort } from '#core/hbone/forwarded.ts';
import { connectAsCaller } from '#ztunnel/proxy/connect-as-caller.ts';
import type { ProxyInputs } from '#ztunnel/proxy/inputs.ts';
import { workloadIdentity } from '#ztunnel/proxy/route.ts';
import { waitForState } from '#ztunnel/proxy/wait.ts';
import { authorize, type L4Connection } from '#ztunnel/rbac/authorize.ts';
import { closeFlag } from '#ztunnel/telemetry/close-flag.ts';
import { serviceOfWorkload, tcpLabels, type TcpLabels } from '#core/telemetry/labels.ts';
import { accessLogged } from '#ztunnel/telemetry/access-log.ts';
import type { ConnectionCounters } from '#ztunnel/telemetry/metrics.ts';

/** SPIFFE ids of waypoints in the config, recomputed when the config version changes. */
function waypointIdentities(inputs: ProxyInputs): () => ReadonlySet<string> {
  let version: string | undefined;
  let ids = new Set<string>();
  return () => {
    if (version !== inputs.state.version) {
      version = inputs.state.version;
      ids = new Set();
      for (const s of inputs.state.services()) if (s.waypoint !== undefined) ids.add(s.waypoint.identity);
      for (const w of inputs.state.workloads()) if (w.waypoint !== undefined) ids.add(w.waypoint.identity);
    }
    return ids;
  };
}

/**
 * The client's address: the HBONE peer's own, except behind a waypoint, whose `forwarded`
 * header names the original client. Other peers could name any address there, so it is
 * believed from waypoints only.
 */
function sourceIpOf(ctx: HboneRequestContext, waypoints: () => ReadonlySet<string>): string {
  if (!waypoints().has(ctx.peerIdentity)) return ctx.peerAddress;
  return forwardedSource(ctx.headers.forwarded) ?? ctx.peerAddress;
}

function facts(ctx: HboneRequestContext, waypoints: () => ReadonlySet<string>): L4Connection {
  return {
    sourcePrincipal: ctx.peerIdentity,
    sourceIp: sourceIpOf(ctx, waypoints),
    destinationIp: ctx.target.host,
    destinationPort: ctx.target.port,
  };
}

function labelsFor(inputs: ProxyInputs, ctx: HboneRequestContext, responseFlags: string, waypoints: () => ReadonlySet<string>): TcpLabels {
  const state = inputs.state;
  const destination = state.workloadByAddress(ctx.localAddress);
  const sourceIp = sourceIpOf(ctx, waypoints);
  return tcpLabels({
    reporter: 'destination',
    source: state.workloadByAddress(sourceIp),
    sourcePrincipal: ctx.peerIdentity,
    destination,
    destinationPrincipal: ctx.localIdentity,
    service: destination === undefined ? undefined : serviceOfWorkload(destination, ctx.target.port, (k) => state.service(k)),
    responseFlags,
    mtls: true,
  });
}


/** Each open tunnel's counters, bound at tunnel_open and closed at tunnel_close. */
type OpenTunnels = WeakMap<HboneRequestContext, ConnectionCounters>;

function onTunnel(inputs: ProxyInputs, e: HboneServerEvent, waypoints: () => ReadonlySet<string>, open: OpenTunnels): void {
  const m = inputs.metrics;
  switch (e.type) {
    case 'tunnel_open':
      open.set(e.ctx, m.connection(labelsFor(inputs, e.ctx, '-', waypoints)));
      return;
    case 'tunnel_close': {
      const counters = open.get(e.ctx) ?? m.connection(labelsFor(inputs, e.ctx, '-', waypoints));
      open.delete(e.ctx);
      const flags = closeFlag(e.broken === 'upstream' ? 'upstream' : e.broken === 'tunnel' || e.error !== undefined ? 'downstream' : undefined);
      counters.close({ sent: e.bytesToTunnel, received: e.bytesToUpstream }, flags);
      // Inbound connections follow the destination pod's Telemetry.
      const destination = inputs.state.workloadByAddress(e.ctx.localAddress);
      if (!accessLogged(destination)) return;
      const service = destination === undefined ? undefined : serviceOfWorkload(destination, e.ctx.target.port, (k) => inputs.state.service(k));
      inputs.accessLog.log({
        direction: 'inbound',
        src: { addr: sourceIpOf(e.ctx, waypoints), identity: e.ctx.peerIdentity },
        dst: { addr: `${e.ctx.target.host}:${e.ctx.target.port}`, identity: e.ctx.localIdentity, service: service?.hostname },
        bytesSent: e.bytesToUpstream, bytesReceived: e.bytesToTunnel, durationMs: e.durationMs, responseFlags: flags, error: e.error,
      });
      return;
    }
    case 'tunnel_rejected':
      if (e.ctx !== undefined) m.failed.inc(labelsFor(inputs, e.ctx, e.responseFlags, waypoints));
      if (accessLogged(inputs.state.workloadByAddress(e.connection.localAddress))) inputs.accessLog.log({
        direction: 'inbound', src: { addr: e.connection.peerAddress, identity: e.connection.peerIdentity },
        dst: { addr: e.ctx === undefined ? e.connection.localAddress : `${e.ctx.target.host}:${e.ctx.target.port}`, identity: e.connection.localIdentity },
        bytesSent: 0, bytesReceived: 0, durationMs: 0, responseFlags: e.responseFlags, error: e.reason,
      });
      return;
    case 'handshake_failed':
      m.failed.inc(tcpLabels({ reporter: 'destination', destination: inputs.state.workloadByAddress(e.localAddress), responseFlags: 'TLS_FAILURE', mtls: true }));
      return;
  }
}

export function createInboundHbone(inputs: ProxyInputs, trustDomain: string): HboneServer {
  const state = inputs.state;
  const log = inputs.logger.child({ direction: 'inbound', mtls: true });
  const waypoints = waypointIdentities(inputs);
  const open: OpenTunnels = new WeakMap();
  return new HboneServer({
    trustDomain,
    logger: log,
    limits: { connectTimeoutMs: inputs.connectTimeoutMs },
    onTunnel: (e) => onTunnel(inputs, e, waypoints, open),
    certificateFor: async (localAddress) => {
      const w = await waitForState(state, () => state.workloadByAddress(localAddress), inputs.configWaitMs, `the workload at ${localAddress}`);
      return inputs.certificates.get(workloadIdentity(w));
    },
    // The tunnel ends inside this pod: it may reach this pod's own addresses only. Another
    // address is a malformed request, answered 400 before policy, as Istio's ztunnel does.
    checkTarget: (ctx) => {
      const w = state.workloadByAddress(ctx.localAddress);
      if (w === undefined || w.addresses.includes(ctx.target.host)) return undefined;
      return `${ctx.target.host} is not an address of ${w.namespace}/${w.name}`;
    },
    authorize: async (ctx) => {
      const w = state.workloadByAddress(ctx.localAddress);
      if (w === undefined) return { allow: false, reason: `no workload at ${ctx.localAddress}` };
      const d = authorize(facts(ctx, waypoints), state.policiesFor(w));
      if (d.dryRun !== undefined) log.info('dry-run policies matched', { dryRun: d.dryRun, enforced: d.allow });
      return d.allow ? { allow: true } : { allow: false, reason: d.reason };
    },
    connectUpstream: async (target, ctx): Promise<net.Socket> => {
      const pod = inputs.podByAddress(ctx.localAddress);
      if (pod === undefined) throw new WeftError('WEFT_ERR_NOT_ENROLLED', `no enrolled pod at ${ctx.localAddress}`);
      // A target on a ztunnel port would dial this pod's own listener, in a loop: refused
      // here, so the tunnel is answered 503 and counted with the CONNECT flag and the reason.
      const selfCall = selfCallReason({ address: target.host, port: target.port });
      if (selfCall !== undefined) throw new WeftError('WEFT_ERR_SELF_CALL', selfCall, { hint: 'ztunnel never forwards to its own ports (15001, 15006, 15008)' });
      const conn = facts(ctx, waypoints);
      // The caller's port is used only with the address it came with (the one believed).
      const callerPort = forwardedSource(ctx.headers.forwarded) === conn.sourceIp ? forwardedSourcePort(ctx.headers.forwarded) : undefined;
      const upstream = await connectAsCaller(pod.netnsPath, {
        host: target.host, port: target.port, localAddress: conn.sourceIp, callerPort, transparent: true, mark: ZTUNNEL_MARK, timeoutMs: inputs.connectTimeoutMs,
      });
      const untrack = inputs.inbound.add({
        conn, workloadUid: pod.uid,
        close: (reason) => {
          log.info('closing inbound tunnel after policy change', { peer: ctx.peerIdentity, target: `${target.host}:${target.port}`, reason });
          abort(upstream);
        },
      });
      upstream.once('close', untrack);
      return upstream;
    },
  });
}
