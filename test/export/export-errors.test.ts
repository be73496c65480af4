// What a user reads when an export fails: the gRPC code, no empty resolution notes, and the fix
// when there is one. The texts are grpc-js's own (checked end to end in test/cli/export-errors.test.ts).
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { describeExportError, UNTRUSTED_CERTIFICATE_HINT } from '../../src/export/export-errors';

const grpcError = (code: number, message: string) => Object.assign(new Error(message), { code });

test('empty resolution notes are stripped, non-empty ones kept', () => {
  assert.equal(
    describeExportError(grpcError(14, '14 UNAVAILABLE: No connection established. Last error: Error: connect ECONNREFUSED 127.0.0.1:1. Resolution note: ')),
    '14 UNAVAILABLE: No connection established. Last error: Error: connect ECONNREFUSED 127.0.0.1:1.',
  );
  assert.equal(describeExportError(grpcError(14, '14 UNAVAILABLE: x. Resolution note: ; y')), '14 UNAVAILABLE: x.; y');
  assert.equal(describeExportError(grpcError(14, '14 UNAVAILABLE: x. Resolution note: DNS failed')), '14 UNAVAILABLE: x. Resolution note: DNS failed');
});

test('an untrusted certificate gets the hint to set OTEL_EXPORTER_OTLP_CERTIFICATE', () => {
  for (const text of ['Error: self-signed certificate', 'Error: self signed certificate in certificate chain', 'unable to verify the first certificate', 'unable to get local issuer certificate']) {
    const d = describeExportError(grpcError(14, `14 UNAVAILABLE: No connection established. Last error: ${text}. Resolution note: `));
    assert.ok(d.endsWith(`(${UNTRUSTED_CERTIFICATE_HINT})`), d);
    assert.match(d, /OTEL_EXPORTER_OTLP_CERTIFICATE/);
  }
  assert.doesNotMatch(describeExportError(grpcError(14, 'connect ECONNREFUSED')), /CERTIFICATE/);
});

test('the code name is added when the message lacks it', () => {
  assert.equal(describeExportError(grpcError(12, 'no such method')), 'UNIMPLEMENTED: no such method');
  assert.equal(describeExportError(new Error('plain')), 'plain');
  assert.equal(describeExportError(undefined), 'unknown error');
});
