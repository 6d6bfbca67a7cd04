// `direct`: the client pod talks to the server pod's address over the plain pod network.
import type { NodeBenchMode } from '#bench/node/mode.ts';

export const directMode: NodeBenchMode = {
  name: 'direct',
  description: 'no proxy: pod to pod over the underlay',
  setup: async (scene) => ({ targets: scene.backends, proxies: [], teardown: async () => undefined }),
};
