// A gRPC service for tests, with no .proto: messages are raw bytes, so that the bytes on the
// wire are exactly what the test sends (@grpc/grpc-js, generic client and server).
import type * as grpc from '@grpc/grpc-js';

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
