// What an export error says to the person running the agent. grpc-js messages carry noise (an
// empty "Resolution note: " on every connection error) and no advice; a certificate the agent
// does not trust is the most common mistake with a TLS collector, and the fix is one variable.
// Shared by the span sink and the agent's own metrics.

export const GRPC_CODE_NAMES: Record<number, string> = {
  1: 'CANCELLED', 2: 'UNKNOWN', 3: 'INVALID_ARGUMENT', 4: 'DEADLINE_EXCEEDED', 5: 'NOT_FOUND',
  6: 'ALREADY_EXISTS', 7: 'PERMISSION_DENIED', 8: 'RESOURCE_EXHAUSTED', 9: 'FAILED_PRECONDITION', 10: 'ABORTED',
  11: 'OUT_OF_RANGE', 12: 'UNIMPLEMENTED', 13: 'INTERNAL', 14: 'UNAVAILABLE', 15: 'DATA_LOSS',
  16: 'UNAUTHENTICATED',
};

export const GRPC_UNIMPLEMENTED = 12;

/** The gRPC status code of an export error, when it has one. */
export function grpcCode(error: unknown): number | undefined {
  if (typeof error === 'object' && error !== null && typeof (error as { code?: unknown }).code === 'number') {
    return (error as { code: number }).code;
  }
  return undefined;
}

// OpenSSL's and Node's texts for a certificate chain the client cannot verify.
const UNTRUSTED = /self[- ]signed certificate|unable to verify the first certificate|unable to get local issuer certificate|UNABLE_TO_VERIFY_LEAF_SIGNATURE|DEPTH_ZERO_SELF_SIGNED_CERT|SELF_SIGNED_CERT_IN_CHAIN|certificate verify failed/i;
const WRONG_NAME = /does not match certificate's altnames|ERR_TLS_CERT_ALTNAME_INVALID/i;

export const UNTRUSTED_CERTIFICATE_HINT =
  "the collector's certificate is not trusted here (self-signed, or from a CA this host does not know): " +
  'set OTEL_EXPORTER_OTLP_CERTIFICATE to the PEM file of the CA (or the self-signed certificate) that signed it';

/** One line: the gRPC code name, the message without empty resolution notes, and a hint when
 *  the user can fix the cause. */
export function describeExportError(error: unknown): string {
  if (error === undefined) return 'unknown error';
  const code = grpcCode(error);
  let message = error instanceof Error ? error.message : String(error);
  // grpc-js appends "Resolution note: <text>" to connection errors, with an empty text when
  // name resolution had nothing to say.
  message = message.replace(/\s*Resolution note:\s*(?=;|$)/g, '').replace(/[\s;]+$/, '');
  if (code !== undefined && GRPC_CODE_NAMES[code] !== undefined && !message.includes(GRPC_CODE_NAMES[code])) {
    message = `${GRPC_CODE_NAMES[code]}: ${message}`;
  }
  if (UNTRUSTED.test(message)) message += ` (${UNTRUSTED_CERTIFICATE_HINT})`;
  else if (WRONG_NAME.test(message)) message += " (the collector's certificate does not carry the host name of the endpoint: use a name it carries, or set OTEL_EXPORTER_OTLP_CERTIFICATE to a certificate that matches)";
  return message;
}
