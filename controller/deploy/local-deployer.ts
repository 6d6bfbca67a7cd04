// On the embedded cluster the controller asks for waypoint deployments the way it would ask
// a Kubernetes API: it writes the rendered objects of each waypoint Gateway as one YAML file
// in a folder, and removes the file when the Gateway goes. local/ watches the folder and
// plays the kubelet's part; the controller never starts processes itself.
import { mkdir, readdir, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { stringify } from 'yaml';
import type { Gateway } from '#controller/source/types.ts';
import { renderWaypointObjects, type WaypointRenderOptions } from '#controller/deploy/waypoint-objects.ts';

export const DEPLOYMENTS_DIR = 'deployments';

/** `<namespace>.<name>.yaml`: both parts are DNS labels, so the dot separates them unambiguously. */
export function deploymentFileName(namespace: string, name: string): string {
  return `${namespace}.${name}.yaml`;
}

export class LocalDeployer {
  readonly #dir: string;
  readonly #render: WaypointRenderOptions;
  /** File name → content last written, so unchanged Gateways cost nothing. */
  readonly #written = new Map<string, string>();
  #started = false;

  /** `render`: what the Deployments get besides the template (the Redis of global rate limits). */
  constructor(stateDir: string, render: WaypointRenderOptions = {}) {
    this.#dir = join(stateDir, DEPLOYMENTS_DIR);
    this.#render = render;
  }

  get dir(): string { return this.#dir; }

  async sync(gateways: readonly Gateway[]): Promise<void> {
    if (!this.#started) {
      await mkdir(this.#dir, { recursive: true });
      // Files of a previous run that no Gateway asks for any more go away on the first sync.
      for (const f of await readdir(this.#dir)) if (f.endsWith('.yaml')) this.#written.set(f, '');
      this.#started = true;
    }
    const want = new Map<string, string>();
    for (const gw of gateways) {
      want.set(deploymentFileName(gw.metadata.namespace, gw.metadata.name), renderWaypointObjects(gw, this.#render).map((o) => stringify(o)).join('---\n'));
    }
    for (const [file, text] of want) {
      if (this.#written.get(file) === text) continue;
      const tmp = join(this.#dir, `.${file}.tmp`);
      await writeFile(tmp, text);
      await rename(tmp, join(this.#dir, file));
      this.#written.set(file, text);
    }
    for (const file of [...this.#written.keys()]) {
      if (want.has(file)) continue;
      await rm(join(this.#dir, file), { force: true });
      this.#written.delete(file);
    }
  }
}
