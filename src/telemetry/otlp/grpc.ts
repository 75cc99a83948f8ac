import {
  Server,
  ServerCredentials,
  type ServerUnaryCall,
  type ServiceDefinition,
  type sendUnaryData,
  status,
  type UntypedServiceImplementation,
} from '@grpc/grpc-js';
import { OtlpFormatError } from './errors.js';

/**
 * OTLP/gRPC: the `TraceService.Export` method of opentelemetry-proto
 * (`opentelemetry/proto/collector/trace/v1/trace_service.proto`, package
 * `opentelemetry.proto.collector.trace.v1`). Messages stay bytes here: the request is an
 * ExportTraceServiceRequest, read by the same direct decoder as OTLP/HTTP protobuf bodies; the
 * answer is an empty ExportTraceServiceResponse (zero bytes) on success.
 */
export const TRACE_SERVICE_EXPORT_PATH = '/opentelemetry.proto.collector.trace.v1.TraceService/Export';

const bytes = (b: Buffer): Buffer => b;
const TRACE_SERVICE: ServiceDefinition = {
  Export: {
    path: TRACE_SERVICE_EXPORT_PATH,
    requestStream: false,
    responseStream: false,
    requestSerialize: bytes,
    requestDeserialize: bytes,
    responseSerialize: bytes,
    responseDeserialize: bytes,
  },
};

export interface GrpcTraceServer {
  port: number;
  /** Stops taking calls and waits for the ones under way (at most `graceMs`, then cuts them). */
  close(graceMs?: number): Promise<void>;
}

/**
 * Starts an OTLP/gRPC trace server (plaintext, HTTP/2) on `host:port` (@grpc/grpc-js). `ingest`
 * stores one request body and resolves when it is stored; an OtlpFormatError becomes
 * INVALID_ARGUMENT with its message, anything else INTERNAL.
 */
export async function startGrpcTraceServer(options: {
  port: number;
  host: string;
  maxBodyBytes: number;
  ingest(raw: Buffer): Promise<void>;
  onRefused(): void;
}): Promise<GrpcTraceServer> {
  const server = new Server({
    'grpc.max_receive_message_length': options.maxBodyBytes,
  });
  const impl: UntypedServiceImplementation = {
    Export: (call: ServerUnaryCall<Buffer, Buffer>, callback: sendUnaryData<Buffer>) => {
      options.ingest(call.request).then(
        () => callback(null, Buffer.alloc(0)),
        (err: unknown) => {
          options.onRefused();
          const format = err instanceof OtlpFormatError;
          callback({
            code: format ? status.INVALID_ARGUMENT : status.INTERNAL,
            details: format ? (err as Error).message : `receiver failure: ${(err as Error).message}`,
          });
        },
      );
    },
  };
  server.addService(TRACE_SERVICE, impl);
  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync(`${options.host}:${options.port}`, ServerCredentials.createInsecure(), (err, bound) => {
      if (err) reject(err);
      else resolve(bound);
    });
  });
  return {
    port,
    close: (graceMs = 10_000) =>
      new Promise<void>((resolve) => {
        const timer = setTimeout(() => server.forceShutdown(), graceMs);
        server.tryShutdown(() => {
          clearTimeout(timer);
          resolve();
        });
      }),
  };
}
