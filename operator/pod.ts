// The pod contract the operator's parts share, pure: what the webhook writes into a pod when it injects a
// sidecar (webhook/inject.ts), and what the controllers (controllers/reconcile.ts) and policy distribution
// (distribution/authorize.ts) read back from injected pods. Only names, labels and types live here; the
// mutation itself stays in webhook/inject.ts. Decisions: operator/DESIGN.md.
import type { DatabaseBinding } from '../policy/types.ts';
import { selectorMatches } from './selector.ts';

/** `orders@3,reports@1`: the bindings a pod was injected for, with their generations (webhook/inject.ts). */
export const ANNOTATION_INJECTED = 'airlock.dev/injected';
/**
 * Set on every pod that carries a sidecar: the operator watches Pods with this label only (its pod cache
 * holds injected pods, not every pod of the cluster; issue 11, class 6). Pods injected by an operator
 * older than this label are not seen until they are recreated (charts/airlock/README.md says how to
 * upgrade from such an operator).
 */
export const LABEL_SIDECAR = 'airlock.dev/sidecar';
export const LABEL_SIDECAR_SELECTOR = `${LABEL_SIDECAR}=true`;
export const TOKEN_AUDIENCE = 'airlock';

// Only the parts of a Pod this code reads or writes are typed; everything else passes through untouched.
export interface ResourceRequirements {
  requests?: Record<string, string>;
  limits?: Record<string, string>;
}
export interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: unknown;
}
export interface Container {
  name: string;
  image?: string;
  env?: EnvVar[];
  ports?: { containerPort: number; [k: string]: unknown }[];
  restartPolicy?: string;
  [k: string]: unknown;
}
export interface Volume {
  name: string;
  [k: string]: unknown;
}
export interface PodSpec {
  containers: Container[];
  initContainers?: Container[];
  volumes?: Volume[];
  [k: string]: unknown;
}
export interface Pod {
  apiVersion?: string;
  kind?: string;
  metadata?: {
    name?: string;
    generateName?: string;
    namespace?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    [k: string]: unknown;
  };
  spec?: PodSpec;
  [k: string]: unknown;
}

// 32-bit FNV-1a, hex: a short, stable suffix for names that would not fit a DNS label.
function fnv1a(s: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h.toString(16).padStart(8, '0');
}

/** A DNS-label name (container and volume names) for a binding; binding names may hold dots and be long. */
export function labelName(prefix: string, binding: string): string {
  const s = `${prefix}${binding.replace(/\./g, '-')}`;
  return s.length <= 63 ? s : `${s.slice(0, 54).replace(/-+$/, '')}-${fnv1a(binding)}`;
}
export function sidecarName(binding: string): string {
  return labelName('airlock-proxy-', binding);
}

/** Which bindings select this pod: same namespace, workloadSelector matches its labels; sorted by name. */
export function matchingBindings(pod: Pod, bindings: readonly DatabaseBinding[]): DatabaseBinding[] {
  const ns = pod.metadata?.namespace;
  const labels = pod.metadata?.labels ?? {};
  return bindings
    .filter((b) => b.metadata.namespace === ns && selectorMatches(b.spec.workloadSelector, labels))
    .sort((a, b) => (a.metadata.name < b.metadata.name ? -1 : a.metadata.name > b.metadata.name ? 1 : 0));
}

/**
 * NODE_OPTIONS of the injected sidecar (webhook/inject.ts; the image's entry point is `node /app/bin/airlock.js`,
 * so V8 flags cannot go in the container's args). Measured in docs/performance.md ("Memory of the sidecar"):
 * - `--max-semi-space-size=1`: a 1 MiB semi-space instead of V8's default (the young generation grows to 16 MiB
 *   per isolate under load and stays resident); the proxy's per-statement garbage dies young either way. Idle RSS
 *   of the injected sidecar -8 to -11 MiB.
 * - `--max-old-space-size=128`: V8 sizes its old generation's growth from this limit, which otherwise comes from
 *   the machine (4 GiB on a 24 GiB node, whatever the pod's limit): peak RSS over 8 clients with audit on
 *   128-138 MiB against 169-217 MiB without it. The live heap is far below it (~18 MiB idle; analysing a 1 MiB
 *   statement fits under 64); the pod's memory limit, not this, is what a runaway would meet first.
 * - `--expose-gc`: the proxy runs one full collection once it listens (proxy/run.ts collectStartupGarbage), which
 *   returns what start-up left in the old generation: idle RSS -2 to -3 MiB. Nothing else calls it.
 * CPU per transaction: within the run-to-run noise (+-15 %) for both. bench/run.ts and bench/sidecar-idle.ts
 * run the proxy with these, so their memory figures are the pod's.
 */
export const SIDECAR_NODE_OPTIONS = '--max-semi-space-size=1 --max-old-space-size=128 --expose-gc';

/**
 * glibc malloc arenas for the sidecar (MALLOC_ARENA_MAX). By default glibc gives every thread that mallocs its
 * own arena (up to 8 per core): Node's libuv pool and V8's worker threads each touch ~1 MiB of one at start. The
 * proxy mallocs almost only on its main thread (the main arena), so two arenas cost no contention and save
 * 2-3 MiB of idle RSS (local mode, median of 4 alternating runs: 82.4 → 80.0 MiB; docs/performance.md). One
 * arena measured no better than two and once worse.
 */
export const SIDECAR_MALLOC_ARENA_MAX = '2';
