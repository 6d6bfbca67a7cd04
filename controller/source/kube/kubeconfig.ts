// Loads the client library's KubeConfig the way the controller is told to: a kubeconfig file
// when one is named, otherwise the in-cluster service account (token, CA, service address).
import { existsSync } from 'node:fs';
import { KubeConfig } from '@kubernetes/client-node';
import { WeftError, errorMessage } from '#core/errors.ts';

const SERVICE_ACCOUNT_TOKEN = '/var/run/secrets/kubernetes.io/serviceaccount/token';

export function loadKubeConfig(path: string, env: NodeJS.ProcessEnv = process.env): KubeConfig {
  const kc = new KubeConfig();
  if (path !== '') {
    try {
      kc.loadFromFile(path);
    } catch (err) {
      throw new WeftError('WEFT_ERR_KUBECONFIG', `cannot load kubeconfig ${path}: ${errorMessage(err)}`, { hint: 'check --kubeconfig (or KUBECONFIG)', cause: err });
    }
    if (kc.getCurrentCluster() === null) {
      throw new WeftError('WEFT_ERR_KUBECONFIG', `kubeconfig ${path} has no current context with a cluster`, { hint: 'set current-context in the file' });
    }
    return kc;
  }
  if (env['KUBERNETES_SERVICE_HOST'] === undefined || !existsSync(SERVICE_ACCOUNT_TOKEN)) {
    throw new WeftError('WEFT_ERR_KUBECONFIG', 'no kubeconfig given and not running in a cluster (no KUBERNETES_SERVICE_HOST or service account token)', {
      hint: 'pass --kubeconfig PATH (or set KUBECONFIG) when running outside the cluster',
    });
  }
  kc.loadFromCluster();
  return kc;
}
