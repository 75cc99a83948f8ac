import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CODING_TOOLS, type Located, searchTools, type ToolSpec, Workspace } from '../src/agents/builtin/tools/index.js';
import { runWorkflow } from '../src/workflow/index.js';
import { ccScript, gateway, tempDir, tempStore, write } from './helpers.js';

/**
 * The builtin agent's file and search tools, called directly on real
 * directories: what a planted symlink can and cannot reach, and what a
 * model-chosen pattern can and cannot do to the driver's event loop.
 */

const tool = (name: string): ToolSpec => {
  const t = CODING_TOOLS.find((x) => x.name === name);
  if (!t) throw new Error(`no tool ${name}`);
  return t;
};
const never = new AbortController().signal;
const call = (t: ToolSpec, root: string, input: Record<string, unknown>, signal = never) =>
  t.run(input, { workspace: new Workspace(root), signal });

/** A workspace and a directory beside it that the agent must never touch. */
function layout() {
  const base = tempDir('drover-confine-');
  const ws = join(base, 'ws');
  const outside = join(base, 'outside');
  mkdirSync(ws);
  mkdirSync(outside);
  writeFileSync(join(outside, 'secret.txt'), 'NEEDLE outside secret\n');
  return { ws, outside };
}

/** Resolves after `n` turns of the event loop: completes only if the loop is not blocked. */
async function loopTurns(n: number): Promise<number> {
  for (let i = 0; i < n; i++) await new Promise<void>((r) => setImmediate(r));
  return n;
}

describe('file tools stay inside the workspace', () => {
  it('write_file refuses a dangling symlink to a new file outside (planted in a clone) and creates nothing', async () => {
    const { ws, outside } = layout();
    symlinkSync(join(outside, 'planted.txt'), join(ws, 'notes.txt')); // absolute target
    symlinkSync('../outside/rel.txt', join(ws, 'rel.txt')); // relative target
    symlinkSync(join(ws, 'hop2'), join(ws, 'hop1')); // a chain: hop1 -> hop2 -> outside
    symlinkSync(join(outside, 'chained.txt'), join(ws, 'hop2'));
    symlinkSync(join(outside, 'newdir'), join(ws, 'out')); // a dangling directory link
    for (const path of ['notes.txt', 'rel.txt', 'hop1', 'out/x.txt', 'out/deeper/x.txt']) {
      await expect(call(tool('write_file'), ws, { path, content: 'pwned' }), path).rejects.toThrow(/outside the workspace/);
    }
    for (const f of ['planted.txt', 'rel.txt', 'chained.txt', 'newdir']) expect(existsSync(join(outside, f)), f).toBe(false);
  });

  it('write_file, edit_file and read_file refuse a symlink to an existing outside file, leaving it unchanged', async () => {
    const { ws, outside } = layout();
    symlinkSync(join(outside, 'secret.txt'), join(ws, 'link.txt'));
    symlinkSync(outside, join(ws, 'dirlink'));
    for (const path of ['link.txt', 'dirlink/secret.txt']) {
      await expect(call(tool('write_file'), ws, { path, content: 'x' })).rejects.toThrow(/outside the workspace/);
      await expect(call(tool('edit_file'), ws, { path, old_string: 'secret', new_string: 'gone' })).rejects.toThrow(
        /outside the workspace/,
      );
      await expect(call(tool('read_file'), ws, { path })).rejects.toThrow(/outside the workspace/);
    }
    expect(readFileSync(join(outside, 'secret.txt'), 'utf8')).toBe('NEEDLE outside secret\n');
  });

  it('still follows symlinks that stay inside, creating a dangling link’s target inside', async () => {
    const { ws } = layout();
    write(ws, 'real.txt', 'one two\n');
    symlinkSync('real.txt', join(ws, 'alias.txt'));
    symlinkSync('later.txt', join(ws, 'pending.txt')); // dangling, inside
    mkdirSync(join(ws, 'src'));
    symlinkSync('src', join(ws, 'srclink'));
    expect(await call(tool('read_file'), ws, { path: 'alias.txt' })).toBe('one two\n');
    await call(tool('edit_file'), ws, { path: 'alias.txt', old_string: 'two', new_string: 'three' });
    expect(readFileSync(join(ws, 'real.txt'), 'utf8')).toBe('one three\n');
    await call(tool('write_file'), ws, { path: 'pending.txt', content: 'made' });
    expect(readFileSync(join(ws, 'later.txt'), 'utf8')).toBe('made');
    await call(tool('write_file'), ws, { path: 'srclink/new/deep.txt', content: 'deep' });
    expect(readFileSync(join(ws, 'src', 'new', 'deep.txt'), 'utf8')).toBe('deep');
    // A shorter rewrite leaves no tail of the old content.
    await call(tool('write_file'), ws, { path: 'real.txt', content: 'x' });
    expect(readFileSync(join(ws, 'real.txt'), 'utf8')).toBe('x');
  });

  it('reports a directory, a missing file and a path through a file as tool errors', async () => {
    const { ws } = layout();
    write(ws, 'file.txt', 'x');
    mkdirSync(join(ws, 'dir'));
    await expect(call(tool('read_file'), ws, { path: 'dir' })).rejects.toThrow(/is a directory/);
    await expect(call(tool('write_file'), ws, { path: 'dir', content: 'x' })).rejects.toThrow(/is a directory/);
    await expect(call(tool('read_file'), ws, { path: 'missing.txt' })).rejects.toThrow(/no such file/);
    await expect(call(tool('edit_file'), ws, { path: 'missing.txt', old_string: 'a', new_string: 'b' })).rejects.toThrow(/no such file/);
    await expect(call(tool('write_file'), ws, { path: 'file.txt/below', content: 'x' })).rejects.toThrow(/not a directory/);
    execFileSync('mkfifo', [join(ws, 'fifo')]); // would block a plain open until a writer comes
    await expect(call(tool('read_file'), ws, { path: 'fifo' })).rejects.toThrow(/not a regular file/);
    await expect(call(tool('write_file'), ws, { path: 'fifo', content: 'x' })).rejects.toThrow(/not a regular file/);
    expect(await call(tool('grep'), ws, { pattern: 'x' })).toBe('file.txt:1: x');
    symlinkSync('loop-b', join(ws, 'loop-a'));
    symlinkSync('loop-a', join(ws, 'loop-b'));
    await expect(call(tool('write_file'), ws, { path: 'loop-a', content: 'x' })).rejects.toThrow(/more than 40 symbolic links/);
  });
});

describe('file tools check the opened file again (a swap between check and open)', () => {
  /** A workspace whose path check answers what it found before the swap, as a racing process would make it. */
  class Racy extends Workspace {
    stale = new Map<string, Located>();
    override locate(path: unknown, what?: string): Located {
      return this.stale.get(String(path)) ?? super.locate(path, what);
    }
    checkNow(path: string): void {
      this.stale.set(path, super.locate(path));
    }
  }
  const run = (name: string, ws: Workspace, input: Record<string, unknown>) => tool(name).run(input, { workspace: ws, signal: never });

  it('refuses a file whose directory became a link outside, and removes a file it created there', async () => {
    const { ws, outside } = layout();
    mkdirSync(join(ws, 'dir'));
    write(join(ws, 'dir'), 'secret.txt', 'inside\n');
    const racy = new Racy(ws);
    racy.checkNow('dir/secret.txt');
    racy.checkNow('dir/new.txt');
    renameSync(join(ws, 'dir'), join(ws, 'dir.bak'));
    symlinkSync(outside, join(ws, 'dir')); // outside/secret.txt exists, outside/new.txt does not
    for (const [name, input] of [
      ['read_file', { path: 'dir/secret.txt' }],
      ['edit_file', { path: 'dir/secret.txt', old_string: 'outside', new_string: 'pwned' }],
      ['write_file', { path: 'dir/secret.txt', content: 'pwned' }],
      ['write_file', { path: 'dir/new.txt', content: 'pwned' }],
    ] as const) {
      await expect(run(name, racy, input), name).rejects.toThrow(/changed while it was being opened/);
    }
    expect(readFileSync(join(outside, 'secret.txt'), 'utf8')).toBe('NEEDLE outside secret\n');
    expect(existsSync(join(outside, 'new.txt'))).toBe(false);
  });

  it('refuses a file that became a symbolic link (O_NOFOLLOW)', async () => {
    const { ws, outside } = layout();
    write(ws, 'a.txt', 'inside\n');
    const racy = new Racy(ws);
    racy.checkNow('a.txt');
    rmSync(join(ws, 'a.txt'));
    symlinkSync(join(outside, 'secret.txt'), join(ws, 'a.txt'));
    await expect(run('write_file', racy, { path: 'a.txt', content: 'pwned' })).rejects.toThrow(/became a symbolic link/);
    await expect(run('read_file', racy, { path: 'a.txt' })).rejects.toThrow(/became a symbolic link/);
    expect(readFileSync(join(outside, 'secret.txt'), 'utf8')).toBe('NEEDLE outside secret\n');
  });
});

describe('search tools skip links that leave the workspace', () => {
  function tree() {
    const { ws, outside } = layout();
    mkdirSync(join(ws, 'src'));
    write(join(ws, 'src'), 'a.txt', 'NEEDLE inside\n');
    symlinkSync(outside, join(ws, 'ext')); // a directory outside
    symlinkSync(join(outside, 'secret.txt'), join(ws, 'src', 'secret-link.txt')); // a file outside
    symlinkSync('src', join(ws, 'srclink')); // inside: still followed
    symlinkSync('..', join(ws, 'src', 'up')); // a loop inside
    symlinkSync(join(outside, 'gone.txt'), join(ws, 'src', 'dangling.txt')); // dangling, outside
    symlinkSync('nowhere.txt', join(ws, 'src', 'broken.txt')); // dangling, inside: skipped silently
    return { ws, outside };
  }

  it('glob lists no name from outside and says which links it skipped', async () => {
    const { ws } = tree();
    const out = await call(tool('glob'), ws, { pattern: '**/*.txt' });
    expect(out).not.toMatch(/secret\.txt/); // the outside file, by any path
    expect(out).not.toMatch(/^src\/secret-link\.txt$/m); // a link to it is not listed as a file
    expect(out).toMatch(/^src\/a\.txt$/m);
    expect(out).toMatch(/^srclink\/a\.txt$/m);
    expect(out).toMatch(/skipped 3 links leaving the workspace: ext, src\/dangling\.txt, src\/secret-link\.txt\]/);
    // A pattern whose fixed start goes through the link starts the walk beyond it: still nothing listed.
    for (const pattern of ['ext/*', 'ext/secret.txt', '{ext,src}/*.txt']) {
      const through = await call(tool('glob'), ws, { pattern });
      expect(through, pattern).not.toMatch(/secret\.txt/);
      expect(through, pattern).toMatch(/skipped \d links? leaving the workspace: ext/);
    }
  });

  it('grep over . finds what is inside, never fails as a whole, and reports the skipped links', async () => {
    const { ws } = tree();
    const out = await call(tool('grep'), ws, { pattern: 'NEEDLE' });
    expect(out).toMatch(/^src\/a\.txt:1: NEEDLE inside$/m);
    expect(out).not.toMatch(/outside secret/);
    expect(out).toMatch(/skipped 3 links leaving the workspace: ext, src\/dangling\.txt, src\/secret-link\.txt\]/);
    for (const glob of ['**/*.txt', 'ext/*', 'ext/**']) {
      const filtered = await call(tool('grep'), ws, { pattern: 'NEEDLE', glob });
      expect(filtered, glob).not.toMatch(/secret\.txt|outside secret/);
    }
  });

  it('grep refuses a glob filter or a path that leaves the workspace', async () => {
    const { ws } = tree();
    await expect(call(tool('grep'), ws, { pattern: 'NEEDLE', glob: '../outside/*' })).rejects.toThrow(/relative to the workspace/);
    await expect(call(tool('grep'), ws, { pattern: 'NEEDLE', path: 'ext' })).rejects.toThrow(/outside the workspace/);
  });
});

describe('model-chosen patterns never stall the driver', () => {
  /** Lines on which `(a+)+$` backtracks for ages. */
  function evilTree() {
    const { ws } = layout();
    write(ws, 'evil.txt', `${'a'.repeat(48)}!\n`.repeat(3));
    write(ws, 'a'.repeat(48), 'x'); // a file name on which the glob below backtracks for ages
    return ws;
  }

  /**
   * Runs one search with a 300 ms limit and, once its worker is matching, a
   * ticker of event-loop turns: the ticker can only finish first if the
   * pattern runs off the driver's thread.
   */
  async function raceTicker(name: 'glob' | 'grep', input: Record<string, unknown>) {
    const ws = evilTree();
    const order: string[] = [];
    let ticker: Promise<unknown> = Promise.resolve();
    const tools = searchTools({
      timeLimitMs: 300,
      onSearchStarted: () => {
        ticker = loopTurns(200).then(() => order.push('ticker'));
      },
    });
    const t = name === 'glob' ? tools.globTool : tools.grepTool;
    const message = await t.run(input, { workspace: new Workspace(ws), signal: never }).then(
      () => 'returned',
      (err: Error) => err.message,
    );
    order.push(name);
    await ticker;
    return { message, order };
  }

  it('a catastrophic grep regex ends with a clear time-limit error while the event loop keeps turning', async () => {
    const { message, order } = await raceTicker('grep', { pattern: '(a+)+$' });
    expect(order).toEqual(['ticker', 'grep']);
    expect(message).toMatch(/grep stopped after 300 ms/);
    expect(message).toMatch(/backtrack/);
  });

  it('a catastrophic glob pattern ends the same way', async () => {
    const { message, order } = await raceTicker('glob', { pattern: `${'*a'.repeat(14)}*b` });
    expect(order).toEqual(['ticker', 'glob']);
    expect(message).toMatch(/glob stopped after 300 ms/);
  });

  it('the agent’s abort signal stops a running search at once', async () => {
    const ws = evilTree();
    const ac = new AbortController();
    const { grepTool } = searchTools({
      timeLimitMs: 600_000,
      // Turning the loop while the regex runs, then aborting: both need the search off the driver's thread.
      onSearchStarted: () => void loopTurns(50).then(() => ac.abort(new Error('run cancelled'))),
    });
    await expect(grepTool.run({ pattern: '(a+)+$' }, { workspace: new Workspace(ws), signal: ac.signal })).rejects.toThrow(/run cancelled/);
  });

  it('an agent with timeoutMs ends with TIMEOUT when its grep backtracks', async () => {
    const ws = evilTree();
    const gw = await gateway(`
rules:
  - match: { prompt: 'find evil' }
    turns:
      - tool_use: { name: grep, input: { pattern: '(a+)+$' } }
      - text: 'too late'
`);
    const { store } = tempStore(tempDir());
    const s = await runWorkflow({
      store,
      script: ccScript(ws, "return await agent('find evil', { timeoutMs: 1500 })"),
      gateway: gw.url,
      workdir: ws,
    });
    const [agentCall] = await store.listCalls(s.runId);
    expect(agentCall?.error?.code).toBe('TIMEOUT');
  });

  it('an ordinary search still works and refuses a bad regex clearly', async () => {
    const ws = evilTree();
    write(ws, 'ok.txt', 'alpha\nbeta\n');
    expect(await call(tool('grep'), ws, { pattern: '^be', path: 'ok.txt' })).toBe('ok.txt:2: beta');
    expect(await call(tool('grep'), ws, { pattern: 'zzz' })).toBe('no matches');
    await expect(call(tool('grep'), ws, { pattern: '(' })).rejects.toThrow(/bad regular expression/);
    expect(await call(tool('glob'), ws, { pattern: '*.txt' })).toBe('evil.txt\nok.txt');
  });
});
