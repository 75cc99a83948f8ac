// A stand-in for the gateway server (branch gw-core) in tests: serves any AnswerSource over real
// HTTP on 127.0.0.1, and an AnswerSource that forwards to another server (a minimal proxy).
import { createServer, request as httpRequest, type IncomingMessage } from 'node:http';
import type { AnswerSource, GatewayRequest, SourceResponse } from '../src/gateway/pipeline/types.js';
import { closeServer, listen, readBody } from '../src/net/index.js';
import { onCleanup } from './helpers.js';

/** One answer as the harness's client got it. */
export interface Served {
  path: string;
  status: number;
  headers: Record<string, string>;
  bytes: Buffer;
  /** The body ended with an error (a cut stream). */
  cut: boolean;
}

const WIRES: Record<string, Pick<GatewayRequest, 'wire' | 'provider'>> = {
  '/v1/messages': { wire: 'anthropic', provider: 'anthropic' },
  '/v1/responses': { wire: 'responses', provider: 'openai' },
  '/v1/chat/completions': { wire: 'chat', provider: 'openai' },
};

/** Builds the pipeline's request from an HTTP request (what gw-core's server does). */
export async function toGatewayRequest(req: IncomingMessage): Promise<GatewayRequest> {
  const path = (req.url ?? '/').split('?')[0] ?? '/';
  const rawBody = await readBody(req, 32 * 1024 * 1024);
  const body = JSON.parse(rawBody.toString('utf8')) as Record<string, unknown>;
  const wire = WIRES[path] ?? { wire: 'anthropic', provider: 'anthropic' };
  const max = body.max_tokens ?? body.max_output_tokens ?? body.max_completion_tokens;
  return {
    receivedAt: Date.now(),
    method: req.method ?? 'POST',
    path,
    headers: req.headers,
    rawBody,
    body,
    ...wire,
    model: String(body.model ?? ''),
    stream: body.stream === true,
    maxTokens: typeof max === 'number' ? max : null,
    attribution: { runId: null, callKey: null, agentLabel: null, phase: null, workflow: null, session: null },
  };
}

/** Serves `source` on 127.0.0.1; `served` lists every answer's bytes as the client got them. */
export async function serveSource(source: AnswerSource): Promise<{ url: string; served: Served[]; close(): Promise<void> }> {
  const served: Served[] = [];
  const server = createServer((req, res) => {
    const abort = new AbortController();
    res.once('close', () => abort.abort());
    (async () => {
      const answer = await source.answer(await toGatewayRequest(req), abort.signal);
      res.writeHead(answer.status, answer.headers);
      const parts: Buffer[] = [];
      const entry: Served = { path: req.url ?? '', status: answer.status, headers: answer.headers, bytes: Buffer.alloc(0), cut: false };
      try {
        for await (const chunk of answer.body) {
          parts.push(Buffer.from(chunk));
          res.write(chunk);
        }
        res.end();
      } catch {
        entry.cut = true;
        res.destroy();
      }
      entry.bytes = Buffer.concat(parts);
      served.push(entry);
    })().catch((err) => {
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' }).end(String(err));
      else res.destroy();
    });
  });
  const port = await listen(server);
  const close = () => closeServer(server);
  onCleanup(close);
  return { url: `http://127.0.0.1:${port}`, served, close };
}

const HOP = new Set(['host', 'connection', 'content-length', 'transfer-encoding', 'keep-alive', 'accept-encoding']);

/** A minimal proxy AnswerSource: forwards the exact body to `upstream` and streams the answer back. */
export function forwardSource(upstream: string): AnswerSource {
  return {
    mode: 'proxy',
    answer(request, signal): Promise<SourceResponse> {
      return new Promise((resolve, reject) => {
        const headers: Record<string, string | string[]> = {};
        for (const [k, v] of Object.entries(request.headers)) if (v !== undefined && !HOP.has(k)) headers[k] = v;
        const req = httpRequest(`${upstream}${request.path}`, { method: request.method, headers, signal }, (res) => {
          const out: Record<string, string> = {};
          for (const [k, v] of Object.entries(res.headers)) if (v !== undefined) out[k] = Array.isArray(v) ? v.join(', ') : v;
          resolve({ status: res.statusCode ?? 502, headers: out, body: res });
        });
        req.once('error', reject);
        req.end(request.rawBody);
      });
    },
  };
}
