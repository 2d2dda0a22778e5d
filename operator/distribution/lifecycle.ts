// When does a regular-container sidecar (Kubernetes < 1.29) exit? When the pod's application containers
// are done for good, so a Job's pod completes (operator/DESIGN.md). Pure: reads the pod's spec and status.
import type { Pod } from '../pod.ts';

interface ContainerStatus {
  name: string;
  state?: { terminated?: { exitCode?: number } };
}

export function appContainersDone(pod: Pod): boolean {
  const spec = pod.spec;
  if (spec === undefined) return false;
  const sidecars = new Set(
    spec.containers
      .filter((c) => c.name.startsWith('airlock-proxy-') && c.restartPolicy === undefined)
      .map((c) => c.name),
  );
  if (sidecars.size === 0) return false; // native sidecars: the kubelet stops them
  const policy = typeof spec['restartPolicy'] === 'string' ? spec['restartPolicy'] : 'Always';
  if (policy === 'Always') return false; // the kubelet restarts app containers
  const statuses = (pod['status'] as { containerStatuses?: ContainerStatus[] } | undefined)?.containerStatuses ?? [];
  const apps = spec.containers.filter((c) => !sidecars.has(c.name));
  if (apps.length === 0) return false;
  return apps.every((c) => {
    const t = statuses.find((s) => s.name === c.name)?.state?.terminated;
    if (t === undefined) return false;
    // OnFailure restarts a container that failed: only a zero exit is final.
    return policy === 'Never' || t.exitCode === 0;
  });
}
