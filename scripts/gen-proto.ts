// Generates distribution/proto/airlock/v1/distribution.json, the PolicyDistribution contract as a protobufjs JSON
// descriptor, from distribution.proto (the source of truth). distribution/proto.ts loads the JSON
// (@grpc/proto-loader's fromJSON) so that neither the operator nor the sidecar parses the .proto at run time:
// parsing it cost the injected sidecar ~5 MiB of idle RSS (docs/performance.md, "Memory of the sidecar").
//   sh scripts/node24.sh scripts/gen-proto.ts           write the file
//   sh scripts/node24.sh scripts/gen-proto.ts --check   exit 1 when the file on disk differs (npm test)
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import protobuf from 'protobufjs';

export const PROTO_DIR = fileURLToPath(new URL('../distribution/proto/', import.meta.url));
export const PROTO_FILE = 'airlock/v1/distribution.proto';
export const JSON_PATH = fileURLToPath(new URL('../distribution/proto/airlock/v1/distribution.json', import.meta.url));

/**
 * The descriptor as proto-loader's loadSync would build it: imports resolved against PROTO_DIR and field names in
 * camelCase (keepCase: false is applied while parsing, so the JSON carries the converted names; proto.ts's
 * fromJSON cannot convert them later).
 */
export function protoJson(): string {
  const root = new protobuf.Root();
  root.resolvePath = (_origin: string, target: string): string => PROTO_DIR + target;
  root.loadSync(PROTO_FILE, { keepCase: false });
  root.resolveAll();
  return `${JSON.stringify(root.toJSON(), null, 2)}\n`;
}

if (process.argv[1]?.endsWith('gen-proto.ts')) {
  const want = protoJson();
  let have: string | null = null;
  try {
    have = readFileSync(JSON_PATH, 'utf8');
  } catch {
    have = null;
  }
  if (have === want) process.exitCode = 0;
  else if (process.argv.includes('--check')) {
    console.error(`gen-proto: ${JSON_PATH} is out of date; run sh scripts/node24.sh scripts/gen-proto.ts`);
    process.exitCode = 1;
  } else {
    writeFileSync(JSON_PATH, want);
    console.log(`gen-proto: wrote ${JSON_PATH}`);
  }
}
