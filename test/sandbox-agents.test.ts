import { existsSync, readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import type { SandboxSpec } from '../src/sandbox/index.js';
import { runWorkflow } from '../src/workflow/index.js';
import { ccScript, gateway, onCleanup, tempStore } from './helpers.js';
import { requireBwrap, sandboxDirs } from './sandbox-helpers.js';

beforeAll(requireBwrap);

/** Claude Code's Bash tool (driven by the sim gateway) tries to write outside, reach a host server, then writes inside. */
const scenario = (outside: string, url: string) => `
rules:
  - name: claude-escape
    match: { agent: '^claude-code$', prompt: 'escape' }
    turns:
      - tool_use: { name: Bash, input: { command: 'echo claude > ${outside}/by-claude; echo exit=$?', description: 'write outside' } }
      - tool_use: { name: Bash, input: { command: 'curl -s --max-time 20 ${url} || echo unreachable; echo ran > claude-ran', description: 'reach the host' } }
      - text: 'tried'
`;

describe('sandbox.wrapAgents: the real claude CLI runs whole inside the sandbox (offline, sim gateway)', () => {
  it("its own Bash tool cannot write outside nor reach the host, yet it talks to drover's gateway; without wrapAgents it can", async () => {
    const dirs = sandboxDirs();
    let hostHits = 0;
    const server = createServer((_req, res) => {
      hostHits++;
      res.end('reached-the-host');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    onCleanup(() => new Promise((r) => server.close(r)));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
    const gw = await gateway(scenario(dirs.outside, url));
    const { store } = tempStore();
    const script = ccScript(dirs.ws, `return await agent('escape', { label: 'claude' });`);
    const spec: SandboxSpec = { enabled: true, writablePaths: [dirs.ws], network: 'none', wrapAgents: true };
    const common = { store, script, workdir: dirs.ws, gateway: gw.url, backend: 'claude-code', cliRetries: 0 };

    const held = await runWorkflow({ ...common, sandbox: spec });
    expect(held.error).toBeUndefined();
    expect(held.result).toBe('tried');
    expect(readFileSync(join(dirs.ws, 'claude-ran'), 'utf8')).toBe('ran\n');
    expect(existsSync(join(dirs.outside, 'by-claude'))).toBe(false);
    expect(hostHits).toBe(0);
    const seen = gw
      .stats()
      .log.filter((l) => l.rule === 'claude-escape')
      .map((l) => l.last ?? '')
      .join('\n');
    expect(seen).toMatch(/Read-only file system/);
    expect(seen).toMatch(/unreachable/);
    // The run's OTLP receiver is on drover's allowlist too: Claude Code's own spans arrived from inside.
    const spans = await store.spans.querySpans({ runId: held.runId });
    expect(spans.some((x) => x.name === 'claude_code.interaction' && x.service === 'claude-code')).toBe(true);

    // Sandbox on but the CLI not wrapped: drover says so, and Claude Code's Bash writes outside.
    const events: string[] = [];
    const unwrapped = await runWorkflow({
      ...common,
      sandbox: { ...spec, wrapAgents: false },
      onEvent: (e) => {
        if (e.type === 'log') events.push(e.message);
      },
    });
    expect(unwrapped.error).toBeUndefined();
    expect(existsSync(join(dirs.outside, 'by-claude'))).toBe(true);
    expect(hostHits).toBe(1);
    expect(events.join('\n')).toMatch(/does not hold claude's own tools/);
  });
});

describe('sandbox.wrapAgents with the real codex CLI (offline, sim gateway)', () => {
  it("its exec_command cannot write outside, yet it talks to drover's gateway; with the outside directory writable the same call writes", async () => {
    const dirs = sandboxDirs();
    const gw = await gateway(`
rules:
  - name: codex-escape
    match: { agent: '^codex$', prompt: 'escape' }
    turns:
      - tool_use: { name: exec_command, input: { cmd: 'echo codex > ${dirs.outside}/by-codex; echo ran > codex-ran' } }
      - text: 'tried'
`);
    const { store } = tempStore();
    const script = ccScript(dirs.ws, `return await agent('escape', { label: 'codex' });`);
    const common = { store, script, workdir: dirs.ws, gateway: gw.url, backend: 'codex', cliRetries: 0 };
    const spec: SandboxSpec = { enabled: true, writablePaths: [dirs.ws], network: 'none', wrapAgents: true };

    const held = await runWorkflow({ ...common, sandbox: spec });
    expect(held.error).toBeUndefined();
    expect(held.result).toBe('tried');
    expect(readFileSync(join(dirs.ws, 'codex-ran'), 'utf8')).toBe('ran\n');
    expect(existsSync(join(dirs.outside, 'by-codex'))).toBe(false);
    expect(gw.stats().log.some((l) => l.rule === 'codex-escape' && l.last?.includes('Read-only file system'))).toBe(true);

    const opened = await runWorkflow({ ...common, sandbox: { ...spec, writablePaths: [dirs.ws, dirs.outside] } });
    expect(opened.error).toBeUndefined();
    expect(readFileSync(join(dirs.outside, 'by-codex'), 'utf8')).toBe('codex\n');
  });
});
