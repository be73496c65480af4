// Synthetic exchanges for span-building and export tests (not a test file itself).
import type { HttpMessage } from '../../src/protocol/http1/types';
import type { Exchange, ProcessInfo } from '../../src/exchange/types';
import { flatFields, type Field } from '../helpers/fields';

export function request(method: string, url: string, headers: Field[] = [], bodySize = 0): HttpMessage {
  return {
    kind: 'request', method, url, versionMajor: 1, versionMinor: 1, headers: flatFields(headers), trailers: [],
    bodySize, bodyBytesMissing: 0, incomplete: false, startNs: 1_000_000n, endNs: 1_100_000n,
    shouldClose: false, upgrade: false,
  };
}

export function response(statusCode: number, headers: Field[] = [], bodySize = 0): HttpMessage {
  return {
    kind: 'response', statusCode, reason: 'OK', versionMajor: 1, versionMinor: 1, headers: flatFields(headers), trailers: [],
    bodySize, bodyBytesMissing: 0, incomplete: false, startNs: 5_000_000n, endNs: 13_300_000n,
    shouldClose: false, upgrade: false,
  };
}

export const CURL: ProcessInfo = { pid: 1234, comm: 'curl', exeName: 'curl', exePath: '/usr/bin/curl', serviceName: 'curl' };
export const NGINX: ProcessInfo = { pid: 77, comm: 'nginx', exeName: 'nginx', exePath: '/usr/sbin/nginx', serviceName: 'nginx' };

export function exchange(overrides: Partial<Exchange> = {}): Exchange {
  return {
    side: 'client',
    protocol: 'http/1',
    version: '1.1',
    process: CURL,
    connectionId: '1234:0x55aa',
    library: 'openssl',
    scheme: undefined,
    authority: undefined,
    rpc: undefined,
    error: undefined,
    errorDetail: undefined,
    ordinal: 1,
    request: request('GET', '/users/42?token=abc&page=2', [
      ['Host', 'api.example.com'],
      ['User-Agent', 'curl/8.5.0'],
      ['Authorization', 'Bearer s3cr3t-bearer'],
      ['Accept', '*/*'],
    ]),
    response: response(200, [['Content-Type', 'application/json'], ['Set-Cookie', 'sid=cookie-secret']], 321),
    startNs: 1_000_000n,
    endNs: 13_300_000n,
    addresses: { localAddress: '10.0.0.5', localPort: 51000, remoteAddress: '93.184.216.34', remotePort: 443, family: 'ipv4' },
    ...overrides,
  };
}

/** The attributes of the CLIENT span built from exchange() with default options (redacted). */
export const CLIENT_ATTRIBUTES = {
  'http.request.method': 'GET',
  'http.response.status_code': 200,
  'url.scheme': 'https',
  'url.path': '/users/42',
  'url.query': 'token=REDACTED&page=2',
  'server.address': 'api.example.com',
  'server.port': 443,
  'url.full': 'https://api.example.com/users/42?token=REDACTED&page=2',
  'network.peer.address': '93.184.216.34',
  'network.peer.port': 443,
  'network.local.address': '10.0.0.5',
  'network.local.port': 51000,
  'network.type': 'ipv4',
  'client.address': '10.0.0.5',
  'client.port': 51000,
  'network.protocol.version': '1.1',
  'tlsotel.tls.library': 'openssl',
  'user_agent.original': 'curl/8.5.0',
  'http.request.body.size': 0,
  'http.response.body.size': 321,
};
