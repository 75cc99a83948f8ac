/**
 * @module `wrapAgents`: an agent CLI (claude, codex) run whole inside the sandbox, so every tool it
 * runs itself (Read, Edit, Bash, apply_patch...) is held by the same mounts as `sh`. With
 * `network: 'none'` the CLI still reaches drover's gateway, and nothing else: a Unix socket bound
 * into the sandbox carries its connections to the gateway's loopback port, and a small Node bridge
 * inside listens on that same port of the sandbox's own loopback (an egress allowlist of one).
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
 * Runs inside the sandbox as `node -e BRIDGE <socket> <port> <cli> <args...>`: listens on
 * 127.0.0.1:<port> of the sandbox's network namespace, pipes each connection to the socket, starts
 * the CLI with inherited stdio and exits as it does (signals passed on).
 */
const BRIDGE = `
const net = require('node:net');
const { spawn } = require('node:child_process');
const [sock, port, cmd, ...args] = process.argv.slice(1);
const fail = (e, code) => { process.stderr.write('drover sandbox bridge: ' + e.message + '\\n'); process.exit(code); };
const server = net.createServer((c) => {
  const up = net.connect(sock);
  c.on('error', () => up.destroy());
  up.on('error', () => c.destroy());
  c.pipe(up).pipe(c);
});
server.on('error', (e) => fail(e, 70));
server.listen(Number(port), '127.0.0.1', () => {
  const child = spawn(cmd, args, { stdio: 'inherit' });
  for (const s of ['SIGTERM', 'SIGINT', 'SIGHUP']) process.on(s, () => child.kill(s));
  child.on('error', (e) => fail(e, 127));
  child.on('exit', (code, sig) => process.exit(code ?? (sig ? 128 + (require('node:os').constants.signals[sig] || 0) : 1)));
});
`;

/** The gateway's loopback port, or null when the URL is not http on 127.0.0.1/localhost. */
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
  const dir = mkdtempSync(join(tmpdir(), 'drover-bridge-'));
  const socket = join(dir, 'gateway.sock');
  const server: Server = createServer((c) => {
    const up = createConnection(port, '127.0.0.1');
    c.on('error', () => up.destroy());
    up.on('error', () => c.destroy());
    c.pipe(up).pipe(c);
  });
  const dispose = async () => {
    await new Promise<void>((r) => server.close(() => r()));
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await new Promise<void>((resolveListen, reject) => {
      server.once('error', reject);
      server.listen(socket, () => resolveListen());
    });
    const argv = [process.execPath, '-e', BRIDGE, socket, String(port), o.binary, ...o.args];
    const cmd = await sandboxCommand({ ...spec, writablePaths: [...spec.writablePaths, ...homes, dir] }, argv, o.cwd);
    return { ...cmd, dispose };
  } catch (err) {
    await dispose();
    throw err;
  }
}
