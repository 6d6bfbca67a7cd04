// The modes of the node benchmark, in table order. The mesh (`weft`: both pods enrolled in
// ztunnel) joins as one more NodeBenchMode: its startCluster starts the mesh launcher (which
// owns the cluster), its setup enrolls the bench namespace, waits for both pods to be
// enrolled, and returns the backends unchanged as targets (capture is transparent) with the
// two ztunnel processes as proxies.
import type { NodeBenchMode } from '#bench/node/mode.ts';
import { directMode } from './direct.ts';
import { stunnelMode } from './stunnel.ts';

export const MODES: readonly NodeBenchMode[] = [directMode, stunnelMode];
