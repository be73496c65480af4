// gRPC spans per the RPC semantic conventions of @opentelemetry/semantic-conventions 1.45
// (stable there): name "package.Service/Method"; rpc.system.name "grpc", rpc.method the full
// method, rpc.status_code the status's name ("OK", "NOT_FOUND"); a server span is an error only
// for the codes that say the server failed, a client span for any code but OK.
import type { RpcInfo } from '../exchange/types';

/** grpc-status values (grpc/doc/statuscodes.md), by number. */
export const GRPC_STATUS_NAMES: readonly string[] = [
  'OK', 'CANCELLED', 'UNKNOWN', 'INVALID_ARGUMENT', 'DEADLINE_EXCEEDED', 'NOT_FOUND', 'ALREADY_EXISTS',
  'PERMISSION_DENIED', 'RESOURCE_EXHAUSTED', 'FAILED_PRECONDITION', 'ABORTED', 'OUT_OF_RANGE',
  'UNIMPLEMENTED', 'INTERNAL', 'UNAVAILABLE', 'DATA_LOSS', 'UNAUTHENTICATED',
];

/** Codes that are a server's own failure (the conventions' list for SERVER spans). */
const SERVER_FAULTS = new Set([2, 4, 12, 13, 14, 15]);

/** The status's name, or its number as text for a code outside the table. */
export function grpcStatusName(code: number): string {
  return GRPC_STATUS_NAMES[code] ?? String(code);
}

/** Whether the status makes the span an error, for this side. */
export function grpcStatusIsError(code: number, client: boolean): boolean {
  return client ? code !== 0 : SERVER_FAULTS.has(code);
}

/** rpc.method: "package.Service/Method". */
export function rpcMethod(rpc: RpcInfo): string {
  return `${rpc.service}/${rpc.method}`;
}
