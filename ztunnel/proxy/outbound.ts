// Outbound (15001 inside a pod): a captured connection's original destination goes through
// routeOutbound, then over HBONE (to the destination pod or its waypoint) or as plain TCP
// from inside the pod (non-mesh destinations). Every socket ztunnel opens carries 0x539 so
// the pod's capture rules let it out.
import type net from 'node:net';
import type { Duplex } from 'node:stream';
import { WeftError, errorMessage, isWeftError } from '#core/errors.ts';
import type { Service, Workload } from '#core/config/model.ts';
import { HboneErrorCode, responseFlagFor } from '#core/hbone/errors.ts';
import { ZTUNNEL_MARK } from '#core/ports.ts';
import { connectInNetns, originalDst } from '#ztunnel/native/index.ts';
import { selfCallReason } from '#ztunnel/proxy/illegal-port.ts';
import type { EnrolledPod, ProxyInputs } from '#ztunnel/proxy/inputs.ts';
import { routeOutbound, type OutboundRoute } from '#ztunnel/proxy/route.ts';
import { abort } from '#core/net/abort.ts';
import { splice } from '#ztunnel/proxy/splice.ts';
import { waitForState } from '#ztunnel/proxy/wait.ts';
import { sourceBaggage } from '#ztunnel/telemetry/baggage.ts';
import { closeFlag, sideOf } from '#ztunnel/telemetry/close-flag.ts';
import { serviceOfWorkload, tcpLabels } from '#core/telemetry/labels.ts';
import { accessLogged } from '#ztunnel/telemetry/access-log.ts';

/** Istio response flag for an outbound failure. */
function failureFlag(err: unknown): string {
  if (err instanceof WeftError) {
    if (err.code === HboneErrorCode.tls || err.code === HboneErrorCode.peerIdentity) return 'TLS_FAILURE';
    const status = (err as { status?: unknown }).status;
    if (typeof status === 'number') return responseFlagFor(status);
  }
  return 'CONNECT';
}

interface Opened {
  upstream: Duplex;
  mtls: boolean;
  destination?: Workload | undefined;
  destinationPrincipal?: string | undefined;
  service?: Service | undefined;
}

async function open(route: OutboundRoute, pod: EnrolledPod, source: Workload, client: net.Socket, inputs: ProxyInputs): Promise<Opened> {
  const timeoutMs = inputs.connectTimeoutMs;
  const plain = async (host: string, port: number): Promise<net.Socket> => {
    const s = await connectInNetns(pod.netnsPath, { host, port, mark: ZTUNNEL_MARK, timeoutMs });
    // A FIN from the destination ends one direction only; splice carries it to the client.
    s.allowHalfOpen = true;
    return s;
  };
  switch (route.kind) {
    case 'hbone':
    case 'waypoint': {
      const service = route.service ?? (route.kind === 'hbone' ? serviceOfWorkload(route.endpoint.workload, route.endpoint.targetPort, (k) => inputs.state.service(k)) : undefined);
      const stream = await pod.pool.connect({
        sourceCert: { provider: inputs.certificates, identity: pod.identity },
        destinationIdentity: route.destinationIdentity,
        address: route.hboneAddress,
        authority: route.authority,
        headers: { baggage: sourceBaggage(source) },
        sourceAddress: { host: pod.ip, port: client.remotePort ?? 0 },
        ...(service === undefined ? {} : { serviceHostname: service.hostname }),
        dial: plain,
      });
      const destination = route.kind === 'hbone' ? route.endpoint.workload : route.workload;
      return { upstream: stream, mtls: true, destination, destinationPrincipal: route.destinationIdentity, service };
    }
    case 'direct-tcp':
      return { upstream: await plain(route.endpoint.address, route.endpoint.targetPort), mtls: false, destination: route.endpoint.workload, service: route.service };
    case 'passthrough':
      return { upstream: await plain(route.target.host, route.target.port), mtls: false };
    case 'unreachable':
      throw new WeftError('WEFT_ERR_NO_ENDPOINT', route.reason, { hint: 'check the service has ready pods' });
  }
}

export async function handleOutbound(client: net.Socket, pod: EnrolledPod, inputs: ProxyInputs): Promise<void> {
  const started = Date.now();
  client.on('error', () => undefined);
  client.setNoDelay(true);
  let dst: { address: string; port: number };
  try {
    dst = originalDst(client);
  } catch (err) {
    inputs.logger.warn('outbound connection without an original destination', { err: errorMessage(err) });
    client.destroy();
    return;
  }
  const log = inputs.logger.child({ direction: 'outbound', src: `${pod.ip}:${client.remotePort}`, dst: `${dst.address}:${dst.port}` });
  // Not redirected (someone dialed 15001 itself) or aimed at a ztunnel port: forwarding it
  // would reach a ztunnel listener again, in a loop. Refused before any config or dial.
  const selfCall = selfCallReason(dst, { address: client.localAddress, port: client.localPort });
  if (selfCall !== undefined) {
    abort(client);
    inputs.metrics.failed.inc(tcpLabels({ reporter: 'source', source: inputs.state.workload(pod.uid), sourcePrincipal: pod.identity, mtls: false, responseFlags: 'CONNECT' }));
    log.warn('outbound connection refused', { reason: selfCall });
    if (accessLogged(inputs.state.workload(pod.uid))) inputs.accessLog.log({
      direction: 'outbound', src: { addr: `${pod.ip}:${client.remotePort}`, identity: pod.identity }, dst: { addr: `${dst.address}:${dst.port}` },
      bytesSent: 0, bytesReceived: 0, durationMs: Date.now() - started, responseFlags: 'CONNECT', error: selfCall,
    });
    return;
  }
  let source: Workload | undefined;
  let route: OutboundRoute | undefined;
  try {
    source = await waitForState(inputs.state, () => inputs.state.workload(pod.uid), inputs.configWaitMs, `config of pod ${pod.ip}`);
    route = routeOutbound(inputs.state, { sourceWorkload: source, originalDst: { host: dst.address, port: dst.port } }, inputs.pick);
    const opened = await open(route, pod, source, client, inputs);
    if (client.destroyed) {
      opened.upstream.destroy();
      return;
    }
    const counters = inputs.metrics.connection(tcpLabels({
      reporter: 'source', source, sourcePrincipal: pod.identity, destination: opened.destination,
      destinationPrincipal: opened.destinationPrincipal, service: opened.service ?? (route.kind === 'unreachable' ? route.service : undefined), mtls: opened.mtls,
    }));
    log.debug('outbound connected', { route: route.kind });
    const r = await splice(client, opened.upstream);
    // Istio counts "sent" as response bytes (towards the client) and "received" as request bytes.
    const flags = closeFlag(sideOf(r.broken));
    counters.close({ sent: r.bToA, received: r.aToB }, flags);
    // Outbound connections follow the source pod's Telemetry (read now: it may have changed).
    if (accessLogged(inputs.state.workload(pod.uid) ?? source)) inputs.accessLog.log({
      direction: 'outbound',
      src: { addr: `${pod.ip}:${client.remotePort}`, identity: pod.identity, workload: source.name },
      dst: { addr: `${dst.address}:${dst.port}`, identity: opened.destinationPrincipal, workload: opened.destination?.name, service: opened.service?.hostname },
      bytesSent: r.aToB, bytesReceived: r.bToA, durationMs: Date.now() - started, responseFlags: flags,
      error: r.error === undefined ? undefined : errorMessage(r.error),
    });
  } catch (err) {
    // A reset, so the client cannot take the failure for a server that closed cleanly.
    abort(client);
    const flags = failureFlag(err);
    const service = route !== undefined && 'service' in route ? route.service : undefined;
    const destination = route?.kind === 'hbone' || route?.kind === 'direct-tcp' ? route.endpoint.workload : undefined;
    inputs.metrics.failed.inc(tcpLabels({ reporter: 'source', source, sourcePrincipal: pod.identity, destination, service, mtls: route?.kind === 'hbone' || route?.kind === 'waypoint', responseFlags: flags }));
    const level = isWeftError(err, HboneErrorCode.denied) ? 'info' : 'warn';
    log[level]('outbound connection failed', { route: route?.kind, code: (err as { code?: unknown }).code, err: errorMessage(err) });
    if (accessLogged(source)) inputs.accessLog.log({
      direction: 'outbound', src: { addr: `${pod.ip}:${client.remotePort}`, identity: pod.identity, workload: source?.name },
      dst: { addr: `${dst.address}:${dst.port}`, service: service?.hostname },
      bytesSent: 0, bytesReceived: 0, durationMs: Date.now() - started, responseFlags: flags, error: errorMessage(err),
    });
  }
}
