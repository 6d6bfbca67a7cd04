// Where the CA keeps its root key and certificate. The controller uses a file in local mode
// and a Kubernetes Secret in a cluster; both fit this interface.

export interface CaMaterial {
  keyPem: string;
  certPem: string;
}

export interface CaStore {
  /** The stored root, or undefined when none was created yet. */
  load(): Promise<CaMaterial | undefined>;
  /**
   * Stores a newly created root. Returns false when another writer stored one first (a Secret
   * created concurrently): the caller then loads that one, so every replica shares one root.
   */
  save(material: CaMaterial): Promise<boolean>;
}

/** Keeps the root in memory; for tests and one-shot tools. */
export class MemoryCaStore implements CaStore {
  #material: CaMaterial | undefined;

  constructor(material?: CaMaterial) {
    this.#material = material;
  }

  async load(): Promise<CaMaterial | undefined> {
    return this.#material === undefined ? undefined : { ...this.#material };
  }

  async save(material: CaMaterial): Promise<boolean> {
    if (this.#material !== undefined) return false;
    this.#material = { ...material };
    return true;
  }
}
