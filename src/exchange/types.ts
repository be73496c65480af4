// What flows from the exchange stage to spans (and metrics): one protocol-neutral exchange,
// with who made it (process, connection) added to what the protocol session saw.
import type { ConnectionAddresses } from '../capture/record';
import type { ProtocolExchange } from '../protocol/session';

export type { ConnectionAddresses } from '../capture/record';
export type { ProtocolExchange, RequestPart, ResponsePart, RpcInfo, ProtocolName } from '../protocol/session';
export { ErrorKind, ERROR_KINDS, errorMessage } from './error-kind';

/** What is known about a traced process; becomes the span's Resource. */
export interface ProcessInfo {
  pid: number;
  /** Kernel comm (max 15 chars). */
  comm: string;
  /** Absolute path of the executable, if readable from /proc/PID/exe. */
  exePath?: string;
  /** Basename of exePath, else comm. */
  exeName: string;
  /** OTEL_SERVICE_NAME from /proc/PID/environ, else exeName. */
  serviceName: string;
  /** Container id from /proc/PID/cgroup, when the process runs in a container. */
  containerId?: string;
  /** Kubernetes pod UID from /proc/PID/cgroup (kubepods…pod<uid>), when known. */
  podUid?: string;
  /** Process start time (clock ticks after boot, /proc/PID/stat field 22): with pid, names one
   *  process incarnation across PID reuse. */
  startTime?: number;
  /** The process's own OTEL_RESOURCE_ATTRIBUTES (from /proc/PID/environ), parsed. */
  resourceAttributes?: Record<string, string>;
}

/** One exchange seen in one process, ready to become one span and one metrics observation. */
export interface Exchange extends ProtocolExchange {
  process: ProcessInfo;
  /** Stable id of the TLS connection inside the agent (pid + connection pointer). */
  connectionId: string;
  /** Name of the TLS library the bytes came from ("openssl", "gnutls", …). */
  library: string | undefined;
  /** The TCP connection's addresses, when known. */
  addresses: ConnectionAddresses | undefined;
}
