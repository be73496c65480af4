// A gRPC service for tests, with no .proto: messages are raw bytes, so that the bytes on the
// wire are exactly what the test sends (@grpc/grpc-js, generic client and server).
import * as grpc from '@grpc/grpc-js';

const bytes = (b: Buffer): Buffer => b;
const method = (path: string, responseStream: boolean): grpc.MethodDefinition<Buffer, Buffer> => ({
  path, requestStream: false, responseStream,
  requestSerialize: bytes, requestDeserialize: bytes, responseSerialize: bytes, responseDeserialize: bytes,
});

/** helloworld.Greeter: SayHello (unary), Fail (unary, the server answers with an error status),
 *  LotsOfReplies (server streaming). */
export const GREETER = {
  sayHello: method('/helloworld.Greeter/SayHello', false),
  fail: method('/helloworld.Greeter/Fail', false),
  lotsOfReplies: method('/helloworld.Greeter/LotsOfReplies', true),
};

/** The Greeter's implementation: SayHello answers "hello " + the request; Fail answers NOT_FOUND
 *  with `failDetails`; LotsOfReplies sends 3 replies `streamGapMs` apart, then ends. */
export function greeterHandlers(failDetails: string, streamGapMs: number): grpc.UntypedServiceImplementation {
  return {
    sayHello: (call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => cb(null, Buffer.concat([Buffer.from('hello '), call.request])),
    fail: (_call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => cb({ code: grpc.status.NOT_FOUND, details: failDetails }),
    lotsOfReplies: (call: grpc.ServerWritableStream<Buffer, Buffer>) => {
      let n = 0;
      const tick = (): void => {
        call.write(Buffer.from(`reply ${n}`));
        if (++n < 3) setTimeout(tick, streamGapMs);
        else call.end();
      };
      tick();
    },
  };
}

/** A Greeter client (grpc-js's generic client, typed). */
export interface GreeterClient {
  sayHello(req: Buffer, cb: (err: grpc.ServiceError | null, res?: Buffer) => void): void;
  fail(req: Buffer, cb: (err: grpc.ServiceError | null, res?: Buffer) => void): void;
  lotsOfReplies(req: Buffer): grpc.ClientReadableStream<Buffer>;
  close(): void;
}

export function greeterClient(address: string, credentials: grpc.ChannelCredentials, options?: grpc.ClientOptions): GreeterClient {
  const Client = grpc.makeGenericClientConstructor(GREETER, 'Greeter');
  return new Client(address, credentials, options) as unknown as GreeterClient;
}

/** The three calls, in turn: SayHello("tlsotel"), Fail("x") (its error), LotsOfReplies("y"). */
export async function callGreeter(client: GreeterClient): Promise<{ hello: Buffer; failure: grpc.ServiceError; replies: string[] }> {
  const hello = await new Promise<Buffer>((resolve, reject) => client.sayHello(Buffer.from('tlsotel'), (err, res) => (err ? reject(err) : resolve(res!))));
  const failure = await new Promise<grpc.ServiceError>((resolve) => client.fail(Buffer.from('x'), (err) => resolve(err!)));
  const replies: string[] = [];
  await new Promise<void>((resolve, reject) => {
    const call = client.lotsOfReplies(Buffer.from('y'));
    call.on('data', (d: Buffer) => replies.push(d.toString()));
    call.on('end', resolve);
    call.on('error', reject);
  });
  return { hello, failure, replies };
}
