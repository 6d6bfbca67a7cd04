// The CA root in a Kubernetes Secret, for the controller on a cluster: every replica opens the
// same root (the first to start creates it; a replica that loses that race loads the winner's,
// as CaStore.save promises), and it survives restarts, where the state directory (an emptyDir)
// does not. The Secret holds ca-cert.pem and ca-key.pem, type weft.io/ca-root, in the
// controller's namespace; RBAC lets the controller get it by name and create it.
import { CoreV1Api } from '@kubernetes/client-node';
import type { KubeConfig } from '@kubernetes/client-node';
import { WeftError, errorMessage } from '#core/errors.ts';
import type { CaMaterial, CaStore } from '#core/ca/store.ts';

export const CA_SECRET_NAME = 'weft-ca-root';
const CERT_KEY = 'ca-cert.pem';
const KEY_KEY = 'ca-key.pem';

export class SecretCaStore implements CaStore {
  readonly #api: CoreV1Api;
  readonly #namespace: string;
  readonly #name: string;

  constructor(options: { kubeConfig: KubeConfig; namespace: string; name?: string }) {
    this.#api = options.kubeConfig.makeApiClient(CoreV1Api);
    this.#namespace = options.namespace;
    this.#name = options.name ?? CA_SECRET_NAME;
  }

  async load(): Promise<CaMaterial | undefined> {
    let data: Record<string, string> | undefined;
    try {
      data = (await this.#api.readNamespacedSecret({ name: this.#name, namespace: this.#namespace })).data;
    } catch (err) {
      if (codeOf(err) === 404) return undefined;
      throw this.#error('reading', err);
    }
    const cert = data?.[CERT_KEY];
    const key = data?.[KEY_KEY];
    if (cert === undefined || key === undefined) {
      throw new WeftError('WEFT_ERR_CA_STORE', `Secret ${this.#namespace}/${this.#name} lacks ${cert === undefined ? CERT_KEY : KEY_KEY}`, {
        hint: 'restore it, or delete the Secret to create a new root (every workload certificate changes)',
      });
    }
    return { certPem: Buffer.from(cert, 'base64').toString('utf8'), keyPem: Buffer.from(key, 'base64').toString('utf8') };
  }

  async save(material: CaMaterial): Promise<boolean> {
    try {
      await this.#api.createNamespacedSecret({
        namespace: this.#namespace,
        body: {
          apiVersion: 'v1', kind: 'Secret', type: 'weft.io/ca-root',
          metadata: { name: this.#name, namespace: this.#namespace, labels: { 'app.kubernetes.io/part-of': 'weft' } },
          data: { [CERT_KEY]: Buffer.from(material.certPem).toString('base64'), [KEY_KEY]: Buffer.from(material.keyPem).toString('base64') },
        },
      });
      return true;
    } catch (err) {
      // Another replica created it first: the caller loads that one.
      if (codeOf(err) === 409) return false;
      throw this.#error('creating', err);
    }
  }

  #error(doing: string, err: unknown): WeftError {
    return new WeftError('WEFT_ERR_CA_STORE', `${doing} the CA Secret ${this.#namespace}/${this.#name} failed: ${errorMessage(err)}`, {
      hint: 'the controller\'s service account needs get and create on this Secret (the chart\'s Role weft-controller-ca)', cause: err,
    });
  }
}

function codeOf(err: unknown): number | undefined {
  const code = typeof err === 'object' && err !== null ? (err as { code?: unknown }).code : undefined;
  return typeof code === 'number' ? code : undefined;
}
