// Contract between the exchange layer (pairs requests with responses) and span building.
import type { HttpMessage } from '../protocol/http1/types';

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

/** Addresses of the TCP connection under the TLS session, when known (filled in later work). */
export interface ConnectionAddresses {
  localAddress: string;
  localPort: number;
  remoteAddress: string;
  remotePort: number;
  family: 'ipv4' | 'ipv6';
}

/** One HTTP request/response pair seen in one process, ready to become one span. */
export interface Exchange {
  /** CLIENT: this process wrote the request. SERVER: it read the request. */
  kind: 'client' | 'server';
  process: ProcessInfo;
  /** Stable id of the TLS connection inside the agent (pid + SSL pointer). */
  connectionId: string;
  scheme: 'https';
  request: HttpMessage;
  /** Undefined when the exchange was cut short (see error). */
  response?: HttpMessage;
  /** Monotonic ns: first byte of the request. */
  startNs: bigint;
  /** Monotonic ns: last byte of the response (or when the exchange was given up). */
  endNs: bigint;
  /** Set when the exchange did not complete normally, e.g. 'connection closed before response',
   *  'process exited', 'response timeout', 'capture gap'. */
  error?: string;
  addresses?: ConnectionAddresses;
  /** 1 for the first request seen on the connection, 2 for the next… (same-host stitching). */
  ordinal?: number;
}
