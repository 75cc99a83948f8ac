import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { bwrapArgs, SandboxError, type SandboxSpec } from '../src/sandbox/index.js';
import { locateBwrap } from '../src/sandbox/probe.js';
import { runShell } from '../src/workflow/shell.js';
import { onCleanup, waitFor } from './helpers.js';
import { requireBwrap, sandboxDirs } from './sandbox-helpers.js';

beforeAll(requireBwrap);

const sandboxOf = (ws: string, network: SandboxSpec['network'] = 'none'): SandboxSpec => ({ enabled: true, writablePaths: [ws], network });

/**
 * Each bypass class of deny rules that read the command string (Claude Code's trackers #92542,
 * #70369, #11662): the command writes $OUT, a path outside the workspace, and then $RAN inside it.
 * Sandboxed, $OUT must not appear while $RAN does (the command ran, the workspace is writable);
 * the same command without the sandbox must create $OUT — so each case can fail.
 */
const CASES: { name: string; command: string; out?: (d: ReturnType<typeof sandboxDirs>) => string }[] = [
  { name: 'plain redirect', command: 'echo x > "$OUT"' },
  { name: 'timeout wrapper', command: `timeout 30 sh -c 'echo x > "$OUT"'` },
  { name: 'nice wrapper', command: 'nice -n 5 tee "$OUT" < /dev/null > /dev/null' },
  { name: 'env wrapper', command: `env FOO=1 sh -c 'echo x > "$OUT"'` },
  { name: 'sh -c', command: `sh -c 'echo x > "$OUT"'` },
  { name: 'bash -c', command: `bash -c 'echo x > "$OUT"'` },
  { name: 'xargs', command: 'echo "$OUT" | xargs touch' },
  { name: 'brace group', command: '{ echo x; } > "$OUT"' },
  { name: 'subshell', command: '(echo x > "$OUT")' },
  { name: 'process substitution', command: `bash -c 'echo x > >(tee "$OUT" > /dev/null); wait $!'` },
  { name: 'absolute path', command: '/usr/bin/tee "$OUT" < /dev/null > /dev/null' },
  { name: 'another program (node)', command: `"$NODE" -e 'require("fs").writeFileSync(process.env.OUT, "x")'` },
  {
    name: 'symlink made in the workspace, written through',
    command: 'ln -s "$OUTDIR" escape; echo x > escape/via-link',
    out: (d) => join(d.outside, 'via-link'),
  },
  { name: 'cd .. then a relative path', command: 'cd .. && echo x > outside/cd-up', out: (d) => join(d.outside, 'cd-up') },
  { name: 'relative ../ path', command: 'echo x > ../outside/rel', out: (d) => join(d.outside, 'rel') },
  { name: 'writing to $HOME', command: 'echo x > "$HOME/in-home"', out: (d) => join(d.home, 'in-home') },
  {
    name: 'remounting / read-write first (root inside has no capabilities)',
    command: 'mount -o remount,rw / 2>/dev/null; echo x > "$OUT"',
  },
  { name: "drover's own store inside the workspace", command: 'echo x > .drover/forged', out: (d) => join(d.ws, '.drover', 'forged') },
  {
    name: 'a git hook inside the workspace',
    command: 'echo x > .git/hooks/pre-commit',
    out: (d) => join(d.ws, '.git', 'hooks', 'pre-commit'),
  },
];

describe('the OS sandbox holds every bypass class of string-matching deny rules (real bwrap, real processes)', () => {
  for (const c of CASES) {
    it(c.name, async () => {
      const dirs = sandboxDirs();
      mkdirSync(join(dirs.ws, '.drover'));
      mkdirSync(join(dirs.ws, '.git', 'hooks'), { recursive: true });
      const out = c.out ? c.out(dirs) : join(dirs.outside, 'written');
      const ran = join(dirs.ws, 'ran');
      const env = { OUT: out, OUTDIR: dirs.outside, HOME: dirs.home, NODE: process.execPath, RAN: ran };
      const command = `${c.command}; echo done > "$RAN"`;

      const held = await runShell(command, { cwd: dirs.ws, env, sandbox: sandboxOf(dirs.ws) });
      expect(existsSync(ran), `the sandboxed command did not run: ${held.stderr}`).toBe(true);
      expect(existsSync(out), `${c.name}: ${out} was written from inside the sandbox`).toBe(false);

      rmSync(join(dirs.ws, 'escape'), { force: true });
      const free = await runShell(command, { cwd: dirs.ws, env });
      expect(existsSync(out), `${c.name}: without the sandbox the command should have written ${out}: ${free.stderr}`).toBe(true);
    });
  }

  it('a file outside that exists stays unchanged, and /tmp is private (a host file under /tmp is not touched)', async () => {
    const dirs = sandboxDirs();
    const existing = join(dirs.outside, 'existing');
    writeFileSync(existing, 'original');
    const hostTmp = join('/tmp', `drover-sbx-${process.pid}-${Date.now()}`);
    onCleanup(() => rmSync(hostTmp, { force: true }));
    const command = 'echo changed > "$EXISTING"; echo x > "$HOSTTMP"; cat "$HOSTTMP"';
    const env = { EXISTING: existing, HOSTTMP: hostTmp };
    const held = await runShell(command, { cwd: dirs.ws, env, sandbox: sandboxOf(dirs.ws) });
    expect(held.stdout).toBe('x\n'); // /tmp inside is writable, and private
    expect(readFileSync(existing, 'utf8')).toBe('original');
    expect(existsSync(hostTmp)).toBe(false);
    await runShell(command, { cwd: dirs.ws, env });
    expect(readFileSync(existing, 'utf8')).toBe('changed\n');
    expect(existsSync(hostTmp)).toBe(true);
  });

  it('denied paths are hidden: ~/.ssh and .env read as empty inside, while readable without the sandbox', async () => {
    const dirs = sandboxDirs();
    mkdirSync(join(dirs.home, '.ssh'));
    writeFileSync(join(dirs.home, '.ssh', 'id_ed25519'), 'PRIVATE-KEY');
    writeFileSync(join(dirs.ws, '.env'), 'API_KEY=secret-value');
    const command = 'cat "$SSHKEY" .env 2>&1; true';
    const env = { SSHKEY: join(dirs.home, '.ssh', 'id_ed25519') };
    const spec: SandboxSpec = { ...sandboxOf(dirs.ws), deniedPaths: [`${dirs.home}/.ssh`, '.env'] };
    const held = await runShell(command, { cwd: dirs.ws, env, sandbox: spec });
    expect(held.stdout).not.toContain('PRIVATE-KEY');
    expect(held.stdout).not.toContain('secret-value');
    const free = await runShell(command, { cwd: dirs.ws, env });
    expect(free.stdout).toContain('PRIVATE-KEY');
    expect(free.stdout).toContain('secret-value');
  });

  it('a program that lives under /tmp (a project cloned there) still runs: its folder stays visible, read-only; other /tmp folders do not', async () => {
    const dirs = sandboxDirs();
    const project = mkdtempSync('/tmp/drover-project-');
    const neighbour = mkdtempSync('/tmp/drover-neighbour-');
    onCleanup(() => rmSync(project, { recursive: true, force: true }));
    onCleanup(() => rmSync(neighbour, { recursive: true, force: true }));
    writeFileSync(join(neighbour, 'secret.txt'), 'not for you');
    const prog = join(project, 'bin', 'prog.sh');
    mkdirSync(join(project, 'bin'));
    writeFileSync(
      prog,
      `#!/bin/sh\necho ran; cat ${neighbour}/secret.txt 2>/dev/null || echo hidden; echo x > ${project}/w 2>/dev/null || echo read-only\n`,
      { mode: 0o755 },
    );
    const spec: SandboxSpec = { enabled: true, writablePaths: [dirs.ws], network: 'none' };
    const { execFileSync } = await import('node:child_process');
    const out = execFileSync(locateBwrap() ?? 'bwrap', bwrapArgs(spec, [prog], dirs.ws), { encoding: 'utf8' });
    expect(out).toBe('ran\nhidden\nread-only\n');
    expect(existsSync(join(project, 'w'))).toBe(false);
  });

  it('the default deny list hides ~/.ssh of the user drover runs as', async () => {
    const dirs = sandboxDirs();
    mkdirSync(join(dirs.home, '.ssh'));
    writeFileSync(join(dirs.home, '.ssh', 'id_rsa'), 'PRIVATE-KEY');
    const argv = ['/bin/sh', '-c', `cat ${join(dirs.home, '.ssh', 'id_rsa')} 2>&1; true`];
    // bwrapArgs takes the home the deny list's ~ means (os.homedir() by default).
    const args = bwrapArgs(sandboxOf(dirs.ws), argv, dirs.ws, dirs.home);
    expect(args.join(' ')).toContain(`--tmpfs ${join(dirs.home, '.ssh')}`);
    const { execFileSync } = await import('node:child_process');
    const inside = execFileSync(locateBwrap() ?? 'bwrap', args, { encoding: 'utf8' });
    expect(inside).not.toContain('PRIVATE-KEY');
    expect(execFileSync(argv[0] as string, argv.slice(1), { encoding: 'utf8' })).toContain('PRIVATE-KEY');
  });

  it('readablePaths narrows what is visible: a file outside them cannot be read', async () => {
    const dirs = sandboxDirs();
    writeFileSync(join(dirs.outside, 'private'), 'NOT-FOR-YOU');
    const command = 'cat "$PRIV" 2>&1; echo ok > inside';
    const env = { PRIV: join(dirs.outside, 'private') };
    const held = await runShell(command, { cwd: dirs.ws, env, sandbox: { ...sandboxOf(dirs.ws), readablePaths: [] } });
    expect(held.stdout).not.toContain('NOT-FOR-YOU');
    expect(readFileSync(join(dirs.ws, 'inside'), 'utf8')).toBe('ok\n');
    const free = await runShell(command, { cwd: dirs.ws, env });
    expect(free.stdout).toContain('NOT-FOR-YOU');
  });

  it('a writable path that is a symbolic link, or that does not exist, is refused with SANDBOX_INVALID and nothing runs', async () => {
    const dirs = sandboxDirs();
    const link = join(dirs.ws, 'link-out');
    symlinkSync(dirs.outside, link);
    const ran = join(dirs.ws, 'ran');
    for (const [path, words] of [
      [link, /is a symbolic link to .*outside/],
      [join(dirs.base, 'missing'), /does not exist/],
    ] as const) {
      const attempt = runShell('echo x > "$RAN"', {
        cwd: dirs.ws,
        env: { RAN: ran },
        sandbox: { ...sandboxOf(dirs.ws), writablePaths: [path] },
      });
      await expect(attempt).rejects.toBeInstanceOf(SandboxError);
      await expect(attempt).rejects.toMatchObject({ code: 'SANDBOX_INVALID', exitCode: 2, message: expect.stringMatching(words) });
    }
    expect(existsSync(ran)).toBe(false);
  });
});

describe('stopping a sandboxed step', () => {
  it('an abort ends everything inside (the pid namespace dies with bwrap): the step returns, no process is left holding its output', async () => {
    const dirs = sandboxDirs();
    const started = join(dirs.ws, 'started');
    const stop = new AbortController();
    // Two sleepers that keep stdout open: runShell resolves only once every holder of the pipe is gone.
    const step = runShell('sleep 300 & sleep 300 & echo up > started; wait', {
      cwd: dirs.ws,
      signal: stop.signal,
      sandbox: sandboxOf(dirs.ws),
    });
    await waitFor(() => existsSync(started), 30_000, 'the sandboxed command to start');
    stop.abort();
    const result = await step;
    expect(result.exitCode).toBe(137);
  });
});

describe('network', () => {
  async function loopbackServer(): Promise<{ url: string; hits: () => number }> {
    let hits = 0;
    const server: Server = createServer((_req, res) => {
      hits++;
      res.end('reached-the-host');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    onCleanup(() => new Promise((r) => server.close(r)));
    return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`, hits: () => hits };
  }

  const FETCH = `"$NODE" -e 'fetch(process.env.URL).then(r => r.text()).then(t => console.log("got", t), e => { console.log("failed", e.cause?.code ?? e.message); process.exit(3) })'`;

  it("network 'none': a loopback HTTP server on the host is unreachable (node fetch and curl); 'host' reaches it", async () => {
    const dirs = sandboxDirs();
    const server = await loopbackServer();
    const env = { URL: server.url, NODE: process.execPath };
    const none = await runShell(FETCH, { cwd: dirs.ws, env, sandbox: sandboxOf(dirs.ws, 'none') });
    expect(none.exitCode).toBe(3);
    expect(none.stdout).toMatch(/failed/);
    const curl = await runShell('curl -sS --max-time 20 "$URL"', { cwd: dirs.ws, env, sandbox: sandboxOf(dirs.ws, 'none') });
    expect(curl.exitCode).not.toBe(0);
    expect(curl.stdout).not.toContain('reached-the-host');
    expect(server.hits()).toBe(0);

    const host = await runShell(FETCH, { cwd: dirs.ws, env, sandbox: sandboxOf(dirs.ws, 'host') });
    expect(host.stdout).toContain('got reached-the-host');
    expect(server.hits()).toBe(1);
  });
});
