// Inbound plaintext (15006 inside a pod): connections from outside the mesh. They carry no
// identity, so authorization runs without a principal (a STRICT PeerAuthentication arrives
// as a DENY for exactly that); allowed ones reach the app from the caller's own address.
import type net from 'node:net';
import { errorMessage } from '#core/errors.ts';
import { ZTUNNEL_MARK } from '#core/ports.ts';
import { connectInNetns, originalDst } from '#ztunnel/native/index.ts';
import { selfCallReason } from '#ztunnel/proxy/illegal-port.ts';
import type { EnrolledPod, ProxyInputs } from '#ztunnel/proxy/inputs.ts';
import { abort } from '#core/net/abort.ts';
import { splice } from '#ztunnel/proxy/splice.ts';
import { waitForState } from '#ztunnel/proxy/wait.ts';
import { authorize, type L4Connection } from '#ztunnel/rbac/authorize.ts';
import { closeFlag, sideOf } from '#ztunnel/telemetry/close-flag.ts';
import { serviceOfWorkload, tcpLabels } from '#core/telemetry/labels.ts';
import { accessLogged } from '#ztunnel/telemetry/access-log.ts';

function plainIp(a: string | undefined): string {
  if (a === undefined) return '';
  return a.startsWith('::ffff:') ? a.slice(7) : a;
}

export async function handleInboundPlaintext(client: net.Socket, pod: EnrolledPod, inputs: ProxyInputs): Promise<void> {
  const started = Date.now();
  client.on('error', () => undefined);
  client.setNoDelay(true);
  const srcIp = plainIp(client.remoteAddress);
  let dst: { address: string; port: number };
  try {
    dst = originalDst(client);
  } catch {
    // Not redirected: someone dialed 15006 itself. Nothing to forward to.
    client.destroy();
    return;
  }
  const log = inputs.logger.child({ direction: 'inbound', src: `${srcIp}:${client.remotePort}`, dst: `${dst.address}:${dst.port}`, mtls: false });
  const state = inputs.state;
  // Dialed 15006 itself (the original destination is the listener's own address) or aimed at
  // a ztunnel port: forwarding it would reach a ztunnel listener again, in a loop.
  const selfCall = selfCallReason(dst, { address: client.localAddress, port: client.localPort });
  if (selfCall !== undefined) {
    abort(client);
    const destination = state.workload(pod.uid);
    inputs.metrics.failed.inc(tcpLabels({
      reporter: 'destination', source: state.workloadByAddress(srcIp), destination, destinationPrincipal: pod.identity, mtls: false, responseFlags: 'CONNECT',
    }));
    log.warn('inbound plaintext refused', { reason: selfCall });
    if (accessLogged(destination)) inputs.accessLog.log({
      direction: 'inbound', src: { addr: `${srcIp}:${client.remotePort}` }, dst: { addr: `${dst.address}:${dst.port}`, identity: pod.identity, workload: destination?.name },
      bytesSent: 0, bytesReceived: 0, durationMs: Date.now() - started, responseFlags: 'CONNECT', error: selfCall,
    });
    return;
  }
  let workload;
  try {
    workload = await waitForState(state, () => state.workload(pod.uid), inputs.configWaitMs, `config of pod ${pod.ip}`);
  } catch (err) {
    log.warn('inbound plaintext refused: no config', { err: errorMessage(err) });
    abort(client);
    return;
  }
  const source = state.workloadByAddress(srcIp);
  const service = serviceOfWorkload(workload, dst.port, (k) => state.service(k));
  const conn: L4Connection = { sourceIp: srcIp, destinationIp: dst.address, destinationPort: dst.port };
  const decision = authorize(conn, state.policiesFor(workload));
  const base = { reporter: 'destination' as const, source, destination: workload, destinationPrincipal: pod.identity, service, mtls: false };
  if (!decision.allow) {
    inputs.metrics.failed.inc(tcpLabels({ ...base, responseFlags: 'DENY' }));
    log.info('inbound plaintext denied', { policy: decision.policy, reason: decision.reason });
    if (accessLogged(workload)) inputs.accessLog.log({
      direction: 'inbound', src: { addr: `${srcIp}:${client.remotePort}` }, dst: { addr: `${dst.address}:${dst.port}`, identity: pod.identity, workload: workload.name, service: service?.hostname },
      bytesSent: 0, bytesReceived: 0, durationMs: Date.now() - started, responseFlags: 'DENY', error: decision.reason,
    });
    abort(client);
    return;
  }
  let upstream: net.Socket;
  try {
    // Not from the caller's port: the captured connection holds that very 4-tuple in this netns.
    upstream = await connectInNetns(pod.netnsPath, {
      host: dst.address, port: dst.port, localAddress: srcIp, transparent: true, mark: ZTUNNEL_MARK, timeoutMs: inputs.connectTimeoutMs,
    });
  } catch (err) {
    inputs.metrics.failed.inc(tcpLabels({ ...base, responseFlags: 'CONNECT' }));
    log.warn('inbound plaintext: app unreachable', { err: errorMessage(err) });
    abort(client);
    return;
  }
  if (client.destroyed) {
    upstream.destroy();
    return;
  }
  upstream.allowHalfOpen = true;
  const counters = inputs.metrics.connection(tcpLabels(base));
  const untrack = inputs.inbound.add({
    conn, workloadUid: pod.uid,
    close: (reason) => {
      log.info('closing inbound connection after policy change', { reason });
      abort(client);
      abort(upstream);
    },
  });
  const r = await splice(client, upstream);
  untrack();
  const flags = closeFlag(sideOf(r.broken));
  counters.close({ sent: r.bToA, received: r.aToB }, flags);
  // Inbound connections follow the destination pod's Telemetry (read now: it may have changed).
  if (accessLogged(state.workload(pod.uid) ?? workload)) inputs.accessLog.log({
    direction: 'inbound', src: { addr: `${srcIp}:${client.remotePort}`, workload: source?.name },
    dst: { addr: `${dst.address}:${dst.port}`, identity: pod.identity, workload: workload.name, service: service?.hostname },
    bytesSent: r.aToB, bytesReceived: r.bToA, durationMs: Date.now() - started, responseFlags: flags,
    error: r.error === undefined ? undefined : errorMessage(r.error),
  });
}
