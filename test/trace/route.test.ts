import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import fc from 'fast-check';
import { isIdLikeSegment, routeOf, ROUTE_PLACEHOLDER } from '../../src/trace/route';

test('placeholder is {id}', () => {
  assert.equal(ROUTE_PLACEHOLDER, '{id}');
});

test('numeric, UUID and long hex segments become {id}', () => {
  assert.equal(routeOf('/users/42'), '/users/{id}');
  assert.equal(routeOf('/users/42/orders/7'), '/users/{id}/orders/{id}');
  assert.equal(routeOf('/items/123e4567-e89b-12d3-a456-426614174000'), '/items/{id}');
  assert.equal(routeOf('/items/123E4567E89B12D3A456426614174000'), '/items/{id}');
  assert.equal(routeOf('/commits/0123456789abcdef0123'), '/commits/{id}');
  assert.equal(routeOf('/blobs/deadbeefdeadbeef'), '/blobs/{id}');
});

test('base64-ish long tokens with digits become {id}; words and slugs stay', () => {
  assert.equal(routeOf('/reset/dGhpcyBpcyBhIHRlc3QgdG9rZW4x9'), '/reset/{id}');
  assert.equal(routeOf('/s/AbCdEfGh1jKlMnOpQrStUvWx_-yz'), '/s/{id}');
  // What redactPath replaces is never in a route, also inside a segment's ";" parameters.
  assert.equal(routeOf('/reset-password/Zx9aK2mQpL4w'), '/reset-password/{id}');
  assert.equal(routeOf('/app;jsessionid=A1B2C3D4E5F6A7B8/home'), '/{id}/home');
  assert.equal(routeOf('/bot123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw/sendMessage'), '/{id}/sendMessage');
  assert.equal(routeOf('/blog/my-very-long-article-title-about-2024'), '/blog/my-very-long-article-title-about-2024');
  assert.equal(routeOf('/api/v2/users'), '/api/v2/users');
  assert.equal(routeOf('/api/1.0/users'), '/api/1.0/users');
  assert.equal(routeOf('/static/app.js'), '/static/app.js');
  assert.equal(routeOf('/beef'), '/beef');
});

test('dates, order numbers and e-mail addresses become {id}', () => {
  assert.equal(routeOf('/reports/2024-11-25'), '/reports/{id}');
  assert.equal(routeOf('/orders/ord12345678'), '/orders/{id}');
  assert.equal(routeOf('/users/jane@example.com'), '/users/{id}');
  assert.equal(routeOf('/users/jane%40example.com/x'), '/users/{id}/x');
});

test('query and fragment stripped; empty and odd targets', () => {
  assert.equal(routeOf('/search?q=42&token=abc'), '/search');
  assert.equal(routeOf('/a/1#frag'), '/a/{id}');
  assert.equal(routeOf(''), '/');
  assert.equal(routeOf('/'), '/');
  assert.equal(routeOf('?x=1'), '/');
  assert.equal(routeOf('*'), '*');
  assert.equal(routeOf('example.com:443'), '/');
  assert.equal(routeOf('https://example.com/users/9?x'), '/users/{id}');
  assert.equal(routeOf('https://example.com'), '/');
  assert.equal(routeOf('/trailing/'), '/trailing/');
});

test('very long routes are capped', () => {
  const long = '/' + Array.from({ length: 60 }, (_, i) => `seg${String.fromCharCode(97 + (i % 26))}x`).join('/');
  const r = routeOf(long);
  assert.ok(r.length <= 205, `length ${r.length}`);
  assert.ok(r.endsWith('/…'));
});

test('isIdLikeSegment basics', () => {
  assert.equal(isIdLikeSegment(''), false);
  assert.equal(isIdLikeSegment('users'), false);
  assert.equal(isIdLikeSegment('0'), true);
});

// The rules as first written (regular expressions, split/join): the fast paths must agree.
function referenceIsIdLike(seg: string): boolean {
  if (seg.length === 0) return false;
  if (/^[0-9]+$/.test(seg) || (seg.length >= 6 && /^[-+]?[0-9][0-9.,:_-]*$/.test(seg))) return true;
  if (seg.length >= 32 && /^[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}$/.test(seg)) return true;
  if (seg.length >= 16 && /^(?:0x)?[0-9a-fA-F]{16,}$/.test(seg)) return true;
  if (seg.includes('@') || seg.includes('%40')) return true;
  if (seg.length >= 8 && [...seg].filter((c) => c >= '0' && c <= '9').length * 2 >= seg.length) return true;
  if (seg.length >= 24 && /^[A-Za-z0-9_\-+=.~]+(?:%3[dD])*$/.test(seg) && /[0-9]/.test(seg)) {
    if (!(!/[A-Z]/.test(seg) && seg.includes('-'))) return true;
  }
  return false;
}

test('fast paths agree with the rules as written, on random paths', () => {
  const segChars = fc.constantFrom(...'abcdefABCDEF0123456789-_.@%+=~xyz/'.split(''));
  const pathArb = fc.array(segChars, { maxLength: 60 }).map((cs) => '/' + cs.join(''));
  fc.assert(
    fc.property(pathArb, (p) => {
      const expected = p.length <= 1 ? '/' : p.split('/').map((s, i) => (i > 0 && referenceIsIdLike(s) ? ROUTE_PLACEHOLDER : s)).join('/');
      assert.equal(routeOf(p), expected.length > 200 ? routeOf(p) : expected);
      for (const seg of p.split('/')) assert.equal(isIdLikeSegment(seg), referenceIsIdLike(seg), seg);
    }),
    { numRuns: 20000 },
  );
});
