export { fromAnyValue, fromKeyValues, toKeyValues } from './otlp/any-value.js';
export { OtlpFormatError, spansFromOtlp } from './otlp/decode.js';
export { spansToOtlpJson } from './otlp/encode.js';
export { decodeOtlpBody } from './otlp/ingest.js';
export { spansFromOtlpProtobuf } from './otlp/protobuf.js';
export { DEFAULT_MAX_OTLP_BYTES, type OtlpReceiver, type OtlpReceiverOptions, startOtlpReceiver } from './otlp/receiver.js';
export { traceIdForRun, traceparent } from './traceparent.js';
