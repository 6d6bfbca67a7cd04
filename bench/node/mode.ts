// The contract of a node benchmark mode: given a scene (a client pod on node1, a server pod on
// node2 with iperf3 and the echo app), put a data path between them and say where the client
// tools should connect and which processes are the proxy. Adding a mode is one function.
import type { LocalCluster } from '#local/cluster.ts';
import type { LocalPod } from '#local/pod.ts';

export interface HostPort {
  host: string;
  port: number;
}

export interface Scene {
  cluster: LocalCluster;
  /** Runs the client tools (iperf3 -c, h2load); on node1. */
  client: LocalPod;
  /** Runs `iperf3 -s` and the echo app; on node2. */
  server: LocalPod;
  /** The servers' own addresses (server pod IP): what `direct` dials; `tcp` is the echo app's plain TCP echo. */
  backends: Targets;
  /** A folder for the mode's files (configs, keys); removed with the scene. */
  workDir: string;
}

export interface Targets {
  iperf: HostPort;
  http: HostPort;
  tcp: HostPort;
}

export interface ModeSetup {
  /** Where the client tools connect, as seen from inside the client pod. */
  targets: Targets;
  /** The proxy processes whose CPU and memory are the cost of this mode (none for direct). */
  proxies: { label: string; pid: number }[];
  teardown(): Promise<void>;
}

/** Starts a cluster for modes that bring their own (a mesh launcher owns its cluster). */
export interface OwnCluster {
  cluster: LocalCluster;
  stop(): Promise<void>;
}

export interface NodeBenchMode {
  name: string;
  /** One line for the results table. */
  description: string;
  /**
   * Modes without it share one plain two-node cluster. A mode whose launcher builds the
   * cluster itself (the mesh) returns it here; the runner then adds the scene's pods to it.
   */
  startCluster?(name: string): Promise<OwnCluster>;
  setup(scene: Scene): Promise<ModeSetup>;
}
