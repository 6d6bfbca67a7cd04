// A plug-in CA from Secret `cacerts` in the controller's namespace, as Istio's istiod reads it:
// ca-cert.pem and ca-key.pem are the intermediate the mesh signs with, root-cert.pem the root
// workloads trust, cert-chain.pem the path from ca-cert.pem up to the root (Istio users build
// it with `cat ca-cert.pem root-cert.pem`). When the Secret exists it wins over the self-made
// root; when it is absent the controller keeps its own (secret-store.ts). Read at start, then
// watched (as istiod watches its mounted cacerts): a changed Secret is handed to the MeshSigner,
// which rotates without a restart. A deleted Secret changes nothing: the last CA keeps signing.
import { X509Certificate } from 'node:crypto';
import { CoreV1Api } from '@kubernetes/client-node';
import type { KubeConfig } from '@kubernetes/client-node';
import type { PluggedCa } from '#core/ca/authority.ts';
import { WeftError, errorMessage } from '#core/errors.ts';
import type { Logger } from '#core/log.ts';
import { ObjectWatch } from '#controller/ca/object-watch.ts';

export const PLUGGED_CA_SECRET = 'cacerts';
export const PluggedCaKeys = { cert: 'ca-cert.pem', key: 'ca-key.pem', root: 'root-cert.pem', chain: 'cert-chain.pem' } as const;

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

/** The certificates of a PEM bundle, in order. */
export function splitPemCertificates(text: string): string[] {
  return [...text.matchAll(PEM_CERTIFICATE)].map((m) => `${m[0]}\n`);
}

/**
 * The plugged CA in a Secret's `data` (base64 values, as the API returns them). cert-chain.pem
 * may start with ca-cert.pem itself and may end with the root; both are dropped, leaving the
 * intermediates between. The signatures along the path are checked when the CA opens.
 */
export function pluggedCaFromSecretData(data: Readonly<Record<string, string>>, where: string): PluggedCa {
  const text = (key: string): string | undefined => {
    const v = data[key];
    return v === undefined ? undefined : Buffer.from(v, 'base64').toString('utf8');
  };
  const certPem = text(PluggedCaKeys.cert);
  const keyPem = text(PluggedCaKeys.key);
  const rootPem = text(PluggedCaKeys.root);
  const missing = [[PluggedCaKeys.cert, certPem], [PluggedCaKeys.key, keyPem], [PluggedCaKeys.root, rootPem]].filter(([, v]) => v === undefined).map(([k]) => k);
  if (certPem === undefined || keyPem === undefined || rootPem === undefined) {
    throw new WeftError('WEFT_ERR_CA_CERT', `plugged-in CA Secret ${where} lacks ${missing.join(', ')}`, {
      hint: `a plug-in CA Secret holds ${Object.values(PluggedCaKeys).join(', ')}; delete it and restart the controller to go back to its own root`,
    });
  }
  let fingerprints: { cert: string; root: string };
  try {
    fingerprints = { cert: new X509Certificate(certPem).fingerprint256, root: new X509Certificate(rootPem).fingerprint256 };
  } catch (err) {
    throw new WeftError('WEFT_ERR_CA_CERT', `plugged-in CA Secret ${where}: unreadable ${PluggedCaKeys.cert} or ${PluggedCaKeys.root}: ${errorMessage(err)}`, { cause: err });
  }
  const chainPem = splitPemCertificates(text(PluggedCaKeys.chain) ?? '').filter((pem) => {
    const fp = new X509Certificate(pem).fingerprint256;
    return fp !== fingerprints.cert && fp !== fingerprints.root;
  });
  return { certPem, keyPem, chainPem, rootPem };
}

/** The plugged CA of the namespace, or undefined when there is no such Secret. */
export async function loadPluggedCa(kubeConfig: KubeConfig, namespace: string, name: string = PLUGGED_CA_SECRET): Promise<PluggedCa | undefined> {
  const api = kubeConfig.makeApiClient(CoreV1Api);
  let data: Record<string, string> | undefined;
  try {
    data = (await api.readNamespacedSecret({ name, namespace })).data;
  } catch (err) {
    const code = typeof err === 'object' && err !== null ? (err as { code?: unknown }).code : undefined;
    if (code === 404) return undefined;
    throw new WeftError('WEFT_ERR_CA_STORE', `reading the plug-in CA Secret ${namespace}/${name} failed: ${errorMessage(err)}`, {
      hint: `the controller's service account needs get on Secret ${name} (the chart's Role weft-controller)`, cause: err,
    });
  }
  return pluggedCaFromSecretData(data ?? {}, `${namespace}/${name}`);
}

/** Whether two plugged CAs are the same material (a replayed or unrelated update of the Secret). */
export function samePluggedCa(a: PluggedCa | undefined, b: PluggedCa): boolean {
  return a !== undefined && a.certPem === b.certPem && a.keyPem === b.keyPem && a.rootPem === b.rootPem && a.chainPem.join('') === b.chainPem.join('');
}

export interface PluggedCaWatchOptions {
  kubeConfig: KubeConfig;
  logger: Logger;
  namespace: string;
  name?: string;
  /** The Secret now holds a readable CA (maybe the one already in use: compare with samePluggedCa). */
  onChange: (plugged: PluggedCa) => void;
  backoff?: { initialMs: number; maxMs: number };
}

/** Watches the plug-in CA Secret; an unreadable one is logged and skipped, keeping the CA in use. */
export function watchPluggedCa(o: PluggedCaWatchOptions): ObjectWatch {
  const name = o.name ?? PLUGGED_CA_SECRET;
  const log = o.logger.child({ component: 'plugged-ca', secret: `${o.namespace}/${name}` });
  const watch = new ObjectWatch({
    kubeConfig: o.kubeConfig, logger: o.logger, path: `/api/v1/namespaces/${o.namespace}/secrets`, name,
    ...(o.backoff === undefined ? {} : { backoff: o.backoff }),
    onEvent: (type, secret) => {
      if (type === 'DELETED') {
        log.warn('plug-in CA Secret deleted; the controller keeps signing with the CA it holds until it restarts, then uses its own root');
        return;
      }
      let plugged: PluggedCa;
      try {
        plugged = pluggedCaFromSecretData((secret as { data?: Record<string, string> }).data ?? {}, `${o.namespace}/${name}`);
      } catch (err) {
        log.error('plug-in CA Secret unreadable; keeping the CA in use', { err: errorMessage(err) });
        return;
      }
      o.onChange(plugged);
    },
  });
  watch.start();
  return watch;
}
