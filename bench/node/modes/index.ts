// The modes of the node benchmark, in table order. The mesh (`weft`: both pods enrolled in
// ztunnel) brings its own cluster: its startCluster starts the mesh launcher, its setup
// enrolls the bench namespace and returns the backends unchanged as targets (capture is
// transparent) with the two ztunnel processes as proxies.
import type { NodeBenchMode } from '#bench/node/mode.ts';
import { directMode } from './direct.ts';
import { nodeTlsMode } from './node-tls.ts';
import { stunnelMode } from './stunnel.ts';
import { weftMode } from './weft.ts';

export const MODES: readonly NodeBenchMode[] = [directMode, stunnelMode, nodeTlsMode, weftMode];
