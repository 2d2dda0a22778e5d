// The local-mode YAML the proxy tests load (`airlock proxy --config`, proxy/local.ts): one DatabaseBinding
// `team/shop` with its credentials Secret `shop-creds`, then the AccessPolicy documents the test gives.

export interface LocalConfigParts {
  /** The upstream PostgreSQL the binding points at. */
  readonly endpoint: { readonly host: string; readonly port: number; readonly database: string };
  /** The upstream login, in the credentials Secret. */
  readonly role: { readonly user: string; readonly password: string };
  /** The AccessPolicy document(s), YAML. */
  readonly policy: string;
  /** spec.tls of the binding, flow style (default `{ mode: disable }`). */
  readonly tls?: string;
  /** More documents before the policy, each ending with `---` (e.g. caSecretYaml()). */
  readonly extra?: string;
}

export function localConfigYaml(p: LocalConfigParts): string {
  return `
apiVersion: airlock.dev/v1alpha1
kind: DatabaseBinding
metadata: { name: shop, namespace: team }
spec:
  engine: postgres
  endpoint: { host: ${p.endpoint.host}, port: ${p.endpoint.port}, database: ${JSON.stringify(p.endpoint.database)} }
  credentialsSecretRef: { name: shop-creds }
  tls: ${p.tls ?? '{ mode: disable }'}
---
apiVersion: v1
kind: Secret
metadata: { name: shop-creds, namespace: team }
stringData: { username: ${JSON.stringify(p.role.user)}, password: ${JSON.stringify(p.role.password)} }
---
${p.extra ?? ''}${p.policy.trim()}
`;
}

/** A Secret in namespace team holding `ca.crt` (for spec.tls.caSecretRef), followed by `---`. */
export function caSecretYaml(name: string, pem: string): string {
  return `apiVersion: v1
kind: Secret
metadata: { name: ${name}, namespace: team }
stringData:
  ca.crt: |
${pem
  .trim()
  .split('\n')
  .map((l) => `    ${l}`)
  .join('\n')}
---
`;
}
