// Selector AuthorizationPolicies indexed by namespace, once per model build: a workload only
// tries the policies of its own namespace and of the root namespace, not every policy.
import { selects } from '#controller/model/labels.ts';

interface SelectorPolicy {
  key: string;
  selector: Readonly<Record<string, string>>;
}

export class SelectorPolicyIndex {
  readonly #rootNamespace: string;
  readonly #byNamespace = new Map<string, SelectorPolicy[]>();

  constructor(rootNamespace: string) {
    this.#rootNamespace = rootNamespace;
  }

  add(key: string, namespace: string, selector: Readonly<Record<string, string>>): void {
    const list = this.#byNamespace.get(namespace);
    if (list === undefined) this.#byNamespace.set(namespace, [{ key, selector }]);
    else list.push({ key, selector });
  }

  /** Keys of the policies selecting a workload: its namespace's and the root namespace's (mesh-wide), in the order added per namespace. */
  selecting(namespace: string, labels: Readonly<Record<string, string>>): string[] {
    const out: string[] = [];
    const collect = (list: readonly SelectorPolicy[] | undefined): void => {
      if (list !== undefined) for (const p of list) if (selects(p.selector, labels)) out.push(p.key);
    };
    collect(this.#byNamespace.get(namespace));
    if (namespace !== this.#rootNamespace) collect(this.#byNamespace.get(this.#rootNamespace));
    return out;
  }
}
