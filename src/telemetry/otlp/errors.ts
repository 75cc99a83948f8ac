import { DroverError } from '../../core/index.js';

/** A malformed OTLP payload: the receiver answers 400 (gRPC INVALID_ARGUMENT) with this message; the CLI exits 2. */
export class OtlpFormatError extends DroverError {
  constructor(message: string) {
    super('OTLP_FORMAT', message, { exitCode: 2 });
  }
}
