import { readFileSync } from 'node:fs';

/** Reads a file a user named (scenario, spec, golden, OTLP dump); an unreadable one becomes the caller's error, naming the file. */
export function readInputFile(file: string, what: string, fail: (message: string) => Error): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    throw fail(`${file}: cannot read ${what} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
}
