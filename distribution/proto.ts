// The PolicyDistribution service, loaded once; shared by the operator's server (operator/distribution/server.ts)
// and the sidecar's client (client.ts). It is read from proto/airlock/v1/distribution.json, the descriptor
// scripts/gen-proto.ts generates from distribution.proto (the source of truth; npm test checks the JSON is
// current), not parsed from the .proto at start: parsing cost the sidecar ~5 MiB of idle RSS (issue 16).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';

/** Message options: camelCase names (applied by gen-proto.ts), 64-bit integers and enums as strings, defaults filled in. */
export const LOADER_OPTIONS: protoLoader.Options = {
  keepCase: false,
  longs: String,
  enums: String,
  defaults: true,
  oneofs: true,
};

const descriptor = JSON.parse(readFileSync(join(import.meta.dirname, 'proto/airlock/v1/distribution.json'), 'utf8'));
const def = protoLoader.fromJSON(descriptor, LOADER_OPTIONS);
const pkg = grpc.loadPackageDefinition(def) as any;
export const PolicyDistributionService: grpc.ServiceDefinition = pkg.airlock.v1.PolicyDistribution.service;
export const PolicyDistributionClient: grpc.ServiceClientConstructor = pkg.airlock.v1.PolicyDistribution;
