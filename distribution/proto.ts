// The PolicyDistribution service of proto/airlock/v1/distribution.proto (the source of truth), built by hand:
// the messages' field tables below, the codec in codec.ts, and the grpc-js service definition and client
// constructor. Shared by the operator's server (operator/distribution/server.ts) and the sidecar's client
// (client.ts). Neither @grpc/proto-loader nor protobufjs is loaded: they cost the sidecar 58 module files and
// ~3 MiB of idle RSS for these few messages (issue 16; docs/performance.md, "Memory of the sidecar", change 7).
// proto.test.ts checks these tables against the .proto as protobufjs parses it, so a .proto change without a
// change here fails a test, and checks the bytes and objects against protobufjs and proto-loader.
import * as grpc from '@grpc/grpc-js';
import { decode, encode } from './codec.ts';
import type { FieldSpec, MessageSpec } from './codec.ts';

const PACKAGE = 'airlock.v1';
const SERVICE = 'PolicyDistribution';

const field = (name: string, number: number, kind: FieldSpec['kind'], repeated = false): FieldSpec => ({
  name,
  number,
  kind,
  repeated,
});
const message = (name: string, fields: FieldSpec[]): MessageSpec => ({ name: `${PACKAGE}.${name}`, fields });

const Violation = message('Violation', [
  field('policy', 1, 'string'),
  field('rule', 2, 'string'),
  field('count', 3, 'uint64'),
  field('lastStatement', 4, 'string'),
  field('lastSeenMs', 5, 'int64'),
]);
const ViolationReport = message('ViolationReport', [
  field('namespace', 1, 'string'),
  field('binding', 2, 'string'),
  field('violations', 3, Violation, true),
]);
const ReportAck = message('ReportAck', []);
const AccessIntent = message('AccessIntent', [
  field('namespace', 1, 'string'),
  field('binding', 2, 'string'),
  field('statement', 3, 'string'),
  field('policy', 4, 'string'),
  field('rule', 5, 'string'),
]);
const AccessRequestRef = message('AccessRequestRef', [
  field('namespace', 1, 'string'),
  field('name', 2, 'string'),
  field('phase', 3, 'string'),
]);
const WatchRequest = message('WatchRequest', [field('namespace', 1, 'string'), field('binding', 2, 'string')]);
const Endpoint = message('Endpoint', [
  field('host', 1, 'string'),
  field('port', 2, 'uint32'),
  field('database', 3, 'string'),
  field('tlsMode', 4, 'string'),
  field('caPem', 5, 'string'),
]);
const Credentials = message('Credentials', [field('username', 1, 'string'), field('password', 2, 'string')]);
const Grant = message('Grant', [
  field('request', 1, 'string'),
  field('subject', 2, 'string'),
  field('rulesJson', 3, 'string'),
  field('statement', 4, 'string'),
  field('expiresAtMs', 5, 'int64'),
]);
const Revocation = message('Revocation', [
  field('request', 1, 'string'),
  field('subject', 2, 'string'),
  field('reason', 3, 'string'),
]);
const PolicyUpdate = message('PolicyUpdate', [
  field('version', 1, 'uint64'),
  field('policySetJson', 2, 'string'),
  field('bindingNamespace', 3, 'string'),
  field('bindingName', 4, 'string'),
  field('bindingGeneration', 5, 'int64'),
  field('bindingSpecJson', 6, 'string'),
  field('endpoint', 7, Endpoint),
  field('credentials', 8, Credentials),
  field('grants', 9, Grant, true),
  field('revoked', 10, Revocation, true),
  field('shutdown', 11, 'string'),
]);

/** Every message of the package, by its fully qualified name. */
export const MESSAGES: ReadonlyMap<string, MessageSpec> = new Map(
  [
    ViolationReport,
    Violation,
    ReportAck,
    AccessIntent,
    AccessRequestRef,
    WatchRequest,
    PolicyUpdate,
    Endpoint,
    Credentials,
    Grant,
    Revocation,
  ].map((m) => [m.name, m]),
);

function method(
  name: string,
  request: MessageSpec,
  response: MessageSpec,
  responseStream: boolean,
): grpc.MethodDefinition<object, object> & { originalName: string } {
  return {
    path: `/${PACKAGE}.${SERVICE}/${name}`,
    requestStream: false,
    responseStream,
    requestSerialize: (m: object) => encode(request, m),
    requestDeserialize: (b: Buffer) => decode(request, b),
    responseSerialize: (m: object) => encode(response, m),
    responseDeserialize: (b: Buffer) => decode(response, b),
    // The name the client gets a method by, and a server's implementation may be keyed by (proto-loader's).
    originalName: name.charAt(0).toLowerCase() + name.slice(1),
  };
}

/** The service as grpc-js's Server.addService and makeGenericClientConstructor take it. */
export const PolicyDistributionService: grpc.ServiceDefinition = {
  Watch: method('Watch', WatchRequest, PolicyUpdate, true),
  ReportViolations: method('ReportViolations', ViolationReport, ReportAck, false),
  RequestAccess: method('RequestAccess', AccessIntent, AccessRequestRef, false),
};

/** A client class with watch, reportViolations and requestAccess (and the same under the .proto's names). */
export const PolicyDistributionClient: grpc.ServiceClientConstructor = grpc.makeGenericClientConstructor(
  PolicyDistributionService,
  SERVICE,
  {},
);
