import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import type { Attributes } from '@opentelemetry/api';
import { flatFields } from '../helpers/fields';
import {
  REDACTED, Redactor, isSensitiveHeaderName, isSensitiveParamName, redactPath, redactQuery, redactUrl, redactUserinfo,
} from '../../src/trace/redact';

test('credential-like parameter values are redacted, names and order kept', () => {
  assert.equal(redactQuery('token=abc&page=2'), 'token=REDACTED&page=2');
  assert.equal(redactQuery('?a=1&access_token=x&b=2'), '?a=1&access_token=REDACTED&b=2');
  assert.equal(
    redactQuery('X-Amz-Algorithm=AWS4&X-Amz-Credential=AK%2F2024&X-Amz-Signature=ff00&X-Amz-Security-Token=tt'),
    'X-Amz-Algorithm=AWS4&X-Amz-Credential=REDACTED&X-Amz-Signature=REDACTED&X-Amz-Security-Token=REDACTED',
  );
  assert.equal(redactQuery('apiKey=1&api_key=2&APIKEY=3&client_secret=4&password=5&pwd=6&sig=7'),
    'apiKey=REDACTED&api_key=REDACTED&APIKEY=REDACTED&client_secret=REDACTED&password=REDACTED&pwd=REDACTED&sig=REDACTED');
  assert.equal(redactQuery('code=oauthcode&state=xyz&country_code=FR'), 'code=REDACTED&state=xyz&country_code=FR');
  assert.equal(redactQuery('sessionId=1&JSESSIONID=2&auth=3&jwt=4'), 'sessionId=REDACTED&JSESSIONID=REDACTED&auth=REDACTED&jwt=REDACTED');
});

test('non-sensitive names, empty values, bare flags and repeated names', () => {
  assert.equal(redactQuery('q=hello&page=2'), 'q=hello&page=2');
  assert.equal(redactQuery('token=&debug'), 'token=&debug');
  assert.equal(redactQuery('token=a&token=b'), 'token=REDACTED&token=REDACTED');
  assert.equal(redactQuery('monkey=1&keyword=x'), 'monkey=1&keyword=x');
  assert.equal(redactQuery(''), '');
  assert.equal(redactQuery('noequals'), 'noequals');
});

test('JWT-shaped values are redacted whatever the name', () => {
  const jwt = 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.c2lnbmF0dXJl';
  assert.equal(redactQuery(`t=${jwt}&x=1`), 't=REDACTED&x=1');
});

test('userinfo in URLs', () => {
  assert.equal(redactUserinfo('https://user:pw@example.com/p'), 'https://REDACTED:REDACTED@example.com/p');
  assert.equal(redactUserinfo('https://example.com/p@x'), 'https://example.com/p@x');
  assert.equal(redactUrl('https://u:p@h/p?token=1#f'), 'https://REDACTED:REDACTED@h/p?token=REDACTED#f');
});

test('name classification', () => {
  for (const n of ['token', 'refresh_token', 'id_token', 'x-amz-signature', 'Signature', 'secret', 'passwd', 'authorization']) {
    assert.equal(isSensitiveParamName(n), true, n);
  }
  for (const n of ['q', 'page', 'sort', 'monkey', 'country_code', 'keyword']) {
    assert.equal(isSensitiveParamName(n), false, n);
  }
  for (const n of ['Authorization', 'Proxy-Authorization', 'Cookie', 'Set-Cookie', 'X-Api-Key', 'X-Auth-Token', 'X-CSRF-Token']) {
    assert.equal(isSensitiveHeaderName(n), true, n);
  }
  for (const n of ['Content-Type', 'Keep-Alive', 'Accept', 'User-Agent', 'X-Request-Id']) {
    assert.equal(isSensitiveHeaderName(n), false, n);
  }
});

const headers = flatFields([
  ['Host', 'h'],
  ['Authorization', 'Bearer abc'],
  ['X-Request-Id', 'r1'],
  ['Cookie', 'a=1'],
  ['X-Api-Key', 'k'],
  ['Referer', 'https://u:p@site/x?token=t&q=1'],
  ['x-request-id', 'r2'],
]);

test('headers are not captured unless named', () => {
  const out: Attributes = {};
  new Redactor().requestHeaders(headers, out);
  assert.deepEqual(out, {});
});

test('named headers: values as string[]; credential headers REDACTED; URL headers redacted', () => {
  const out: Attributes = {};
  new Redactor({ captureRequestHeaders: ['X-Request-Id', 'authorization', 'cookie', 'x-api-key', 'referer'] })
    .requestHeaders(headers, out);
  assert.deepEqual(out, {
    'http.request.header.x-request-id': ['r1', 'r2'],
    'http.request.header.authorization': [REDACTED],
    'http.request.header.cookie': [REDACTED],
    'http.request.header.x-api-key': [REDACTED],
    'http.request.header.referer': ['https://REDACTED:REDACTED@site/x?token=REDACTED&q=1'],
  });
});

test('allowSensitive exports credential headers in clear; response headers separate', () => {
  const out: Attributes = {};
  const r = new Redactor({ captureRequestHeaders: ['authorization'], captureResponseHeaders: ['set-cookie'], allowSensitive: true });
  r.requestHeaders(headers, out);
  r.responseHeaders(flatFields([['Set-Cookie', 'a=1'], ['Set-Cookie', 'b=2']]), out);
  assert.deepEqual(out, {
    'http.request.header.authorization': ['Bearer abc'],
    'http.response.header.set-cookie': ['a=1', 'b=2'],
  });
});

test('invalid header names are rejected with a clear message', () => {
  assert.throws(() => new Redactor({ captureRequestHeaders: ['bad header'] }), /not a valid HTTP header name/);
});

test('redactUrls:false keeps queries', () => {
  const r = new Redactor({ redactUrls: false });
  assert.equal(r.query('token=abc'), 'token=abc');
});

test('path: a random-looking segment after one naming a secret is redacted; words, slugs and numbers stay', () => {
  const red: Array<[string, string]> = [
    ['/reset-password/Zx9aK2mQpL4w', '/reset-password/REDACTED'],
    ['/invite/k3J9xQ2p', '/invite/REDACTED'],
    ['/users/me/api-keys/ak_12345678abc', '/users/me/api-keys/REDACTED'],
    ['/api/webhooks/1122334455/AbCdEfGhIjKlMnOpQrSt', '/api/webhooks/1122334455/REDACTED'],
    ['/verifyEmail/9f86d081884c7d659a2feaa0c55ad015', '/verifyEmail/REDACTED'],
    ['/app;jsessionid=A1B2C3D4E5F6A7B8', '/app;jsessionid=REDACTED'],
    ['/magic-link/%41b3dEf6GhJ8', '/magic-link/REDACTED'],
    ['/bot123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw/getUpdates', '/REDACTED/getUpdates'],
    ['/Ab12cd34ef/reset/Zx9aK2mQpL4w', '/Ab12cd34ef/reset/REDACTED'], // the context comes after a random segment
    ['/services/T01234567/B01234567/AbCdEfGhIjKlMnOpQrStUvWx', '/services/T01234567/B01234567/REDACTED'], // a Slack webhook
  ];
  for (const [path, want] of red) assert.equal(redactPath(path), want, path);
  const kept = [
    '/reset-password/confirm', // a word
    '/api/tokens/refresh-all-expired', // a slug
    '/sessions/20241125', // a number: an id (templated in names), no secret
    '/api/v2/users/Zx9aK2mQpL4w', // random, but nothing says it is a secret
    '/oauth2/authorize', '/keys', '/status/404', '/a/b',
    '/monkey-business/abc12345def', // "key" inside a word is no context
    '/reset/app.3f2a1b9c.js', '/grpc.health.v1.Health/Check', // file and package names
    // Only the segment right before (or two before, a number between) gives the context.
    '/auth/admin/realms/master/users/3f2504e0-4f89-11d3-9a0c-0305e82c3301',
    '/api/auth/users/5f8d0d55b54764421b7156c9/orders',
    '/api/v1/namespaces/auth/pods/auth-server-7c5ddbdf54-x2v9k',
  ];
  for (const path of kept) assert.equal(redactPath(path), path, path);
});

test('path redaction is linear in the path (a client chooses it, up to 64 KiB): rough guard, not a benchmark', () => {
  // Random-looking segments after words that contain "sig", "sid", "key" without naming a
  // secret: the shape that made an earlier version quadratic (1.5 s for 66 KB).
  const seg = (i: number) => `design-monkey-inside/Ab${i}cd${i}ef${i}`;
  const path = '/' + Array.from({ length: 2400 }, (_, i) => seg(i)).join('/');
  assert.ok(path.length > 64_000);
  const t0 = performance.now();
  assert.equal(redactPath(path), path);
  const ms = performance.now() - t0;
  assert.ok(ms < 250, `${ms.toFixed(1)} ms for ${path.length} bytes`);
});
