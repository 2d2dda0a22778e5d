// Where a command finds its cluster, shared by `airlock operator` and `airlock request` (as kubectl does):
// --kubeconfig, else env KUBECONFIG, else in-cluster when running in a pod.
import { KubeConfig } from '@kubernetes/client-node';

/** In-cluster when the kubelet gave us a ServiceAccount; else --kubeconfig or KUBECONFIG. */
export function kubeConfig(file: string | undefined): KubeConfig {
  const kc = new KubeConfig();
  const path = file ?? process.env['KUBECONFIG'];
  if (path !== undefined && path !== '') {
    try {
      kc.loadFromFile(path);
    } catch (e) {
      throw new Error(`cannot load kubeconfig ${path}: ${(e as Error).message}`);
    }
  } else if (process.env['KUBERNETES_SERVICE_HOST'] !== undefined) kc.loadFromCluster();
  else
    throw new Error(
      'no Kubernetes configuration: not in a pod (KUBERNETES_SERVICE_HOST unset) and neither --kubeconfig nor KUBECONFIG given',
    );
  return kc;
}

/** The current context's namespace (in a pod: the pod's own), or undefined when it names none. */
export function contextNamespace(kc: KubeConfig): string | undefined {
  const ns = kc.getContextObject(kc.getCurrentContext())?.namespace;
  return ns === undefined || ns === '' ? undefined : ns;
}
