/**
 * @module `wrapAgents`: an agent CLI (claude, codex) run whole inside the sandbox, so every tool it
 * runs itself (Read, Edit, Bash, apply_patch...) is held by the same mounts as `sh`. With
 * `network: 'none'` the CLI still reaches drover's gateway (and the run's OTLP receiver), and
 * nothing else: per allowed loopback port, a Unix socket bound into the sandbox carries connections
 * to it, and a small Node bridge inside listens on that same port of the sandbox's own loopback
 * (an egress allowlist of drover's own endpoints).
 */
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { createConnection, createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sandboxCommand } from './bwrap.js';
import { SandboxError } from './errors.js';
import type { SandboxSpec } from './spec.js';

/** The wrapped command and what to undo once the process ended (the bridge's socket). */
export interface WrappedAgent {
  file: string;
  args: string[];
  dispose(): Promise<void>;
}

/**
 * Runs inside the sandbox as `node -e BRIDGE '[[<socket>, <port>], ...]' <cli> <args...>`: listens on
 * 127.0.0.1:<port> of the sandbox's network namespace for each pair, pipes each connection to its
 * socket, then starts the CLI with inherited stdio and exits as it does (signals passed on).
 */
const BRIDGE = `
const net = require('node:net');
const { spawn } = require('node:child_process');
const [routes, cmd, ...args] = process.argv.slice(1);
const fail = (e, code) => { process.stderr.write('drover sandbox bridge: ' + e.message + '\\n'); process.exit(code); };
const listening = JSON.parse(routes).map(([sock, port]) => new Promise((ready) => {
  const server = net.createServer((c) => {
    const up = net.connect(sock);
    c.on('error', () => up.destroy());
    up.on('error', () => c.destroy());
    c.pipe(up).pipe(c);
  });
  server.on('error', (e) => fail(e, 70));
  server.listen(port, '127.0.0.1', ready);
}));
Promise.all(listening).then(() => {
  const child = spawn(cmd, args, { stdio: 'inherit' });
  for (const s of ['SIGTERM', 'SIGINT', 'SIGHUP']) process.on(s, () => child.kill(s));
  child.on('error', (e) => fail(e, 127));
  child.on('exit', (code, sig) => process.exit(code ?? (sig ? 128 + (require('node:os').constants.signals[sig] || 0) : 1)));
});
`;

/** The URL's loopback port, or null when the URL is not http on 127.0.0.1/localhost. */
function loopbackPort(url: string | undefined): number | null {
  if (!url) return null;
  try {
    const u = new URL(url);
    if (u.protocol !== 'http:' || !['127.0.0.1', 'localhost'].includes(u.hostname)) return null;
    return Number(u.port || 80);
  } catch {
    return null;
  }
}

function isDirectory(path: string | undefined): path is string {
  try {
    return !!path && statSync(path).isDirectory();
  } catch {
    return false;
  }
}

/**
 * `binary args` wrapped so the whole agent CLI runs inside the sandbox. Its isolated HOME and
 * CODEX_HOME (drover-made temporary directories, from `env`) are writable besides the spec's paths.
 * With `network: 'none'`, the gateway's port and the OTLP endpoints' (from `env`, when on loopback)
 * are reachable inside through the bridge; nothing else is.
 * @param gatewayUrl the gateway the CLI talks to; with `network: 'none'` it must be http on loopback
 * @throws SandboxError `SANDBOX_UNAVAILABLE` as {@link sandboxCommand}; `SANDBOX_INVALID` for a
 *   bad path, or `network: 'none'` with a gateway that is not on loopback
 */
export async function sandboxAgentCommand(
  spec: SandboxSpec,
  o: { binary: string; args: string[]; cwd: string; env: NodeJS.ProcessEnv; gatewayUrl: string | undefined },
): Promise<WrappedAgent> {
  const homes = [o.env.HOME, o.env.CODEX_HOME].filter(isDirectory);
  if (spec.network === 'host') {
    const cmd = await sandboxCommand({ ...spec, writablePaths: [...spec.writablePaths, ...homes] }, [o.binary, ...o.args], o.cwd);
    return { ...cmd, dispose: async () => {} };
  }
  const port = loopbackPort(o.gatewayUrl);
  if (port === null) {
    throw new SandboxError(
      'SANDBOX_INVALID',
      `sandbox.wrapAgents with network 'none' needs drover's gateway on http://127.0.0.1 (the agent's only way out); got ${o.gatewayUrl ?? 'none'}`,
    );
  }
  const ports = new Set([port]);
  for (const url of [o.env.OTEL_EXPORTER_OTLP_ENDPOINT, o.env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT]) {
    const p = loopbackPort(url);
    if (p !== null) ports.add(p);
  }
  const dir = mkdtempSync(join(tmpdir(), 'drover-bridge-'));
  const servers: Server[] = [];
  const dispose = async () => {
    await Promise.all(servers.map((server) => new Promise<void>((r) => server.close(() => r()))));
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    const routes: [string, number][] = [];
    for (const p of ports) {
      const socket = join(dir, `${p}.sock`);
      const server = createServer((c) => {
        const up = createConnection(p, '127.0.0.1');
        c.on('error', () => up.destroy());
        up.on('error', () => c.destroy());
        c.pipe(up).pipe(c);
      });
      servers.push(server);
      await new Promise<void>((resolveListen, reject) => {
        server.once('error', reject);
        server.listen(socket, () => resolveListen());
      });
      routes.push([socket, p]);
    }
    const argv = [process.execPath, '-e', BRIDGE, JSON.stringify(routes), o.binary, ...o.args];
    const cmd = await sandboxCommand({ ...spec, writablePaths: [...spec.writablePaths, ...homes, dir] }, argv, o.cwd);
    return { ...cmd, dispose };
  } catch (err) {
    await dispose();
    throw err;
  }
}
