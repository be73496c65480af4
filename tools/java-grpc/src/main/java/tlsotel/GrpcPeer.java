package tlsotel;

import io.grpc.CallOptions;
import io.grpc.ManagedChannel;
import io.grpc.MethodDescriptor;
import io.grpc.Server;
import io.grpc.ServerServiceDefinition;
import io.grpc.Status;
import io.grpc.netty.shaded.io.grpc.netty.GrpcSslContexts;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;
import io.grpc.netty.shaded.io.grpc.netty.NettyServerBuilder;
import io.grpc.netty.shaded.io.netty.handler.ssl.OpenSsl;
import io.grpc.stub.ClientCalls;
import io.grpc.stub.ServerCalls;
import java.io.ByteArrayInputStream;
import java.io.File;
import java.io.IOException;
import java.io.InputStream;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.TimeUnit;

/**
 * A gRPC peer with no .proto (messages are raw bytes), TLS by netty-tcnative (BoringSSL):
 *   server CERT KEY          helloworld.Greeter SayHello ("hello " + request) and Fail (NOT_FOUND,
 *                            "no such greeting") on 127.0.0.1; prints "listening PORT"
 *   client CERT PORT CALLS   waits for a line on stdin, then that many SayHello calls and one Fail
 *                            on one channel; prints "done"
 * Both print "tls: PROVIDER" first: OPENSSL when netty-tcnative is in use.
 */
public final class GrpcPeer {
  static final MethodDescriptor.Marshaller<byte[]> BYTES = new MethodDescriptor.Marshaller<>() {
    @Override public InputStream stream(byte[] value) { return new ByteArrayInputStream(value); }
    @Override public byte[] parse(InputStream in) {
      try { return in.readAllBytes(); } catch (IOException e) { throw new RuntimeException(e); }
    }
  };

  static MethodDescriptor<byte[], byte[]> method(String name) {
    return MethodDescriptor.<byte[], byte[]>newBuilder().setType(MethodDescriptor.MethodType.UNARY)
        .setFullMethodName("helloworld.Greeter/" + name).setRequestMarshaller(BYTES).setResponseMarshaller(BYTES).build();
  }

  public static void main(String[] args) throws Exception {
    System.out.println("tls: " + (OpenSsl.isAvailable() ? "OPENSSL" : "JDK (" + OpenSsl.unavailabilityCause() + ")"));
    if (args[0].equals("server")) server(args[1], args[2]);
    else client(args[1], Integer.parseInt(args[2]), Integer.parseInt(args[3]));
  }

  static void server(String cert, String key) throws Exception {
    ServerServiceDefinition svc = ServerServiceDefinition.builder("helloworld.Greeter")
        .addMethod(method("SayHello"), ServerCalls.asyncUnaryCall((req, obs) -> {
          byte[] hello = "hello ".getBytes(StandardCharsets.UTF_8);
          byte[] out = new byte[hello.length + req.length];
          System.arraycopy(hello, 0, out, 0, hello.length);
          System.arraycopy(req, 0, out, hello.length, req.length);
          obs.onNext(out);
          obs.onCompleted();
        }))
        .addMethod(method("Fail"), ServerCalls.asyncUnaryCall((req, obs) ->
            obs.onError(Status.NOT_FOUND.withDescription("no such greeting").asRuntimeException())))
        .build();
    Server server = NettyServerBuilder.forAddress(new InetSocketAddress("127.0.0.1", 0))
        .sslContext(GrpcSslContexts.forServer(new File(cert), new File(key)).build())
        .addService(svc).build().start();
    System.out.println("listening " + server.getPort());
    server.awaitTermination();
  }

  static void client(String cert, int port, int calls) throws Exception {
    ManagedChannel ch = NettyChannelBuilder.forAddress("127.0.0.1", port).overrideAuthority("localhost")
        .sslContext(GrpcSslContexts.forClient().trustManager(new File(cert)).build()).build();
    System.out.println("ready");
    new java.io.BufferedReader(new java.io.InputStreamReader(System.in)).readLine();
    for (int i = 0; i < calls; i++) {
      byte[] got = ClientCalls.blockingUnaryCall(ch, method("SayHello"), CallOptions.DEFAULT.withDeadlineAfter(10, TimeUnit.SECONDS), ("j" + i).getBytes(StandardCharsets.UTF_8));
      if (!new String(got, StandardCharsets.UTF_8).equals("hello j" + i)) throw new AssertionError(new String(got, StandardCharsets.UTF_8));
    }
    try {
      ClientCalls.blockingUnaryCall(ch, method("Fail"), CallOptions.DEFAULT.withDeadlineAfter(10, TimeUnit.SECONDS), new byte[] {'x'});
      throw new AssertionError("Fail did not fail");
    } catch (io.grpc.StatusRuntimeException e) {
      if (e.getStatus().getCode() != Status.Code.NOT_FOUND) throw e;
    }
    ch.shutdown().awaitTermination(5, TimeUnit.SECONDS);
    System.out.println("done");
  }
}
