// Runs something on each selected mode's data path, the modes one after another: modes that
// bring their own cluster (the mesh) get it with the scene's pods added, the others share one
// plain two-node cluster. Everything is torn down in reverse order of creation, also on failure.
import { LocalCluster } from '#local/cluster.ts';
import type { ModeSetup, NodeBenchMode, Scene } from '#bench/node/mode.ts';
import { MODES } from '#bench/node/modes/index.ts';
import { createScene } from '#bench/node/scene.ts';

/** The modes a `--modes a,b` list names (all when undefined), in table order. */
export function selectModes(list: string | undefined): NodeBenchMode[] {
  if (list === undefined) return [...MODES];
  const wanted = list.split(',').map((m) => m.trim()).filter((m) => m !== '');
  const unknown = wanted.filter((w) => !MODES.some((m) => m.name === w));
  if (unknown.length > 0) throw new Error(`unknown mode(s) ${unknown.join(', ')}; known: ${MODES.map((m) => m.name).join(', ')}`);
  return MODES.filter((m) => wanted.includes(m.name));
}

interface Stage {
  scene: Scene;
  close(): Promise<void>;
}

/** Calls `measure` for each mode with its scene and setup; `clusterName` prefixes the clusters' names. */
export async function forEachMode<T>(
  modes: readonly NodeBenchMode[], clusterName: string, log: (line: string) => void,
  measure: (mode: NodeBenchMode, scene: Scene, setup: ModeSetup) => Promise<T>,
): Promise<T[]> {
  const results: T[] = [];
  let shared: Stage | undefined;
  const closers: (() => Promise<void>)[] = [];
  try {
    for (const mode of modes) {
      let stage: Stage;
      if (mode.startCluster !== undefined) {
        const own = await mode.startCluster(`${clusterName}-${mode.name}`);
        closers.push(() => own.stop());
        const s = await createScene(own.cluster);
        closers.push(() => s.close());
        stage = s;
      } else {
        if (shared === undefined) {
          const cluster = await LocalCluster.start({ name: clusterName, nodes: 2 });
          cluster.installSignalHandlers();
          closers.push(() => cluster.stop());
          const s = await createScene(cluster);
          closers.push(() => s.close());
          shared = s;
        }
        stage = shared;
      }
      const setup = await mode.setup(stage.scene);
      try {
        results.push(await measure(mode, stage.scene, setup));
      } finally {
        await setup.teardown();
      }
    }
  } finally {
    // Scenes before their clusters: reverse order of creation.
    for (const close of closers.reverse()) await close().catch((err: unknown) => log(`cleanup: ${String(err)}`));
  }
  return results;
}
