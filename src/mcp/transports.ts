import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { closeServer } from '../net/index.js';
import { createTaskServer, type TaskServerOptions } from './task-tools.js';

/** `drover mcp`: the task server over stdio until the client hangs up. */
export async function serveStdio(options: TaskServerOptions): Promise<void> {
  const { server, close } = createTaskServer(options);
  const transport = new StdioServerTransport();
  const closed = new Promise<void>((resolve) => {
    transport.onclose = () => resolve();
    process.stdin.once('end', () => resolve());
  });
  await server.connect(transport);
  await closed;
  close();
}

export interface HttpMcp {
  url: string;
  port: number;
  close(): Promise<void>;
}

/**
 * `drover mcp --http <port>`: streamable HTTP on loopback, one MCP session per
 * client. Requests whose Host or Origin is not this loopback address are
 * refused (DNS-rebinding protection).
 */
export async function serveHttp(options: TaskServerOptions & { port: number; host?: string }): Promise<HttpMcp> {
  const host = options.host ?? '127.0.0.1';
  const sessions = new Map<string, { transport: StreamableHTTPServerTransport; close: () => void }>();
  let allowedHosts: string[] = [];
  let allowedOrigins: string[] = [];
  const http = createServer((req, res) => {
    handle(req, res).catch((err) => {
      if (!res.headersSent) {
        res.writeHead(500, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ jsonrpc: '2.0', error: { code: -32603, message: String(err) }, id: null }));
      }
    });
  });
  const refuse = (res: ServerResponse, status: number, message: string) => {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ jsonrpc: '2.0', error: { code: -32000, message }, id: null }));
  };
  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (!(req.url ?? '').startsWith('/mcp')) return refuse(res, 404, 'the MCP endpoint is /mcp');
    if (!allowedHosts.includes(req.headers.host ?? '')) return refuse(res, 403, `host ${req.headers.host} not allowed`);
    const origin = req.headers.origin;
    if (origin !== undefined && !allowedOrigins.includes(origin)) return refuse(res, 403, `origin ${origin} not allowed`);
    const sessionId = req.headers['mcp-session-id'];
    const existing = typeof sessionId === 'string' ? sessions.get(sessionId) : undefined;
    if (existing) return existing.transport.handleRequest(req, res);
    if (req.method !== 'POST') return refuse(res, 400, 'no valid session; start with an initialize request');
    const { server, close } = createTaskServer(options);
    const transport: StreamableHTTPServerTransport = new StreamableHTTPServerTransport({
      sessionIdGenerator: () => randomUUID(),
      enableDnsRebindingProtection: true,
      allowedHosts,
      allowedOrigins,
      onsessioninitialized: (id) => {
        sessions.set(id, { transport, close });
      },
    });
    transport.onclose = () => {
      if (transport.sessionId) sessions.delete(transport.sessionId);
      close();
    };
    await server.connect(transport);
    await transport.handleRequest(req, res);
  }
  await new Promise<void>((resolve, reject) => {
    http.once('error', reject);
    http.listen(options.port, host, () => resolve());
  });
  const port = (http.address() as AddressInfo).port;
  allowedHosts = [`${host}:${port}`, `localhost:${port}`];
  allowedOrigins = [`http://${host}:${port}`, `http://localhost:${port}`];
  return {
    url: `http://${host}:${port}/mcp`,
    port,
    close: async () => {
      for (const s of sessions.values()) await s.transport.close();
      await closeServer(http);
    },
  };
}
