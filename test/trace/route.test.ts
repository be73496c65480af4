import { test } from 'node:test';
import * as assert from 'node:assert/strict';
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
