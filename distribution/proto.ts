// Loads distribution.proto once; shared by the operator's server (operator/distribution/server.ts) and the sidecar's client (client.ts).
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';

const def = protoLoader.loadSync('airlock/v1/distribution.proto', {
  includeDirs: [join(import.meta.dirname, 'proto')],
  keepCase: false, longs: String, enums: String, defaults: true, oneofs: true,
});
const pkg = grpc.loadPackageDefinition(def) as any;
export const PolicyDistributionService: grpc.ServiceDefinition = pkg.airlock.v1.PolicyDistribution.service;
export const PolicyDistributionClient: grpc.ServiceClientConstructor = pkg.airlock.v1.PolicyDistribution;
