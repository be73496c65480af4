// gRPC on the HTTP/2 session, from real @grpc/grpc-js traffic (client and server over h2c on
// loopback, through a recording relay): a unary call, a unary call failing with a status and a
// message, and a server-streaming call whose exchange lasts until its last message.

import assert from 'node:assert/strict';
import test from 'node:test';

import * as grpc from '@grpc/grpc-js';
import { GREETER, callGreeter, greeterClient, greeterHandlers } from '../helpers/greeter';

import { ErrorKind } from '../../src/exchange/error-kind';
import { feed, flip, startRelay } from './http2-harness';

const STREAM_GAP_MS = 40;

test('grpc-js unary, failing unary and server-streaming calls: names, statuses, durations', async () => {
  const server = new grpc.Server();
  server.addService(GREETER, greeterHandlers('no such greeting: é 100%', STREAM_GAP_MS));
  const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))));
  const relay = await startRelay(port);
  const client = greeterClient(`127.0.0.1:${relay.port}`, grpc.credentials.createInsecure());
  try {
    const { hello, failure, replies } = await callGreeter(client);
    assert.equal(hello.toString(), 'hello tlsotel');
    assert.equal(failure.code, grpc.status.NOT_FOUND);
    assert.equal(replies.length, 3);
  } finally {
    client.close();
    await relay.close();
    await new Promise<void>((resolve) => server.tryShutdown(() => resolve()));
  }

  for (const [steps, side] of [[relay.steps, 'client'], [flip(relay.steps), 'server']] as const) {
    const out = feed(steps, Infinity, ErrorKind.ClosedBeforeResponse);
    assert.equal(out.notMine, 0);
    const byPath = new Map(out.exchanges.map((e) => [e.request.url, e]));
    assert.equal(out.exchanges.length, 3, out.exchanges.map((e) => e.request.url).join());
    for (const ex of out.exchanges) {
      assert.equal(ex.side, side);
      assert.equal(ex.request.method, 'POST');
      assert.equal(ex.error, undefined);
      assert.equal(ex.response?.statusCode, 200);
    }
    assert.deepStrictEqual(byPath.get('/helloworld.Greeter/SayHello')!.rpc, { system: 'grpc', service: 'helloworld.Greeter', method: 'SayHello', statusCode: 0, statusMessage: 'OK' }); // grpc-js sends grpc-message OK
    assert.equal(byPath.get('/helloworld.Greeter/SayHello')!.response!.bodySize, 5 + 'hello tlsotel'.length);
    assert.equal(byPath.get('/helloworld.Greeter/SayHello')!.request.bodySize, 5 + 'tlsotel'.length);
    assert.deepStrictEqual(byPath.get('/helloworld.Greeter/Fail')!.rpc, { system: 'grpc', service: 'helloworld.Greeter', method: 'Fail', statusCode: 5, statusMessage: 'no such greeting: é 100%' });
    const streaming = byPath.get('/helloworld.Greeter/LotsOfReplies')!;
    assert.equal(streaming.rpc?.statusCode, 0);
    const ms = Number(streaming.endNs - streaming.startNs) / 1e6;
    assert.ok(ms >= 2 * STREAM_GAP_MS * 0.9, `the streaming call lasted ${ms} ms`);
    assert.equal(streaming.response!.bodySize, 3 * 5 + 'reply 0'.length * 3);
  }
});
