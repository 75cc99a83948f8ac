// The live progress tree on terminals that report odd sizes: drawn with a fallback height when
// the terminal says 0 rows (it drew nothing), and trimmed to the terminal keeping the header.
import { stripVTControlCharacters } from 'node:util';
import { describe, expect, it } from 'vitest';
import { FALLBACK_SIZE, type TreeStream, terminalSize, ttyProgress } from '../src/cli/tty-progress.js';
import type { ProgressEvent } from '../src/workflow/events.js';

function fakeTerminal(rows: number | undefined, columns: number | undefined): TreeStream & { text(): string } {
  let out = '';
  return {
    rows,
    columns,
    write(text: string) {
      out += text;
      return true;
    },
    // What is left on screen is not needed: everything drawn, escape codes removed.
    text: () => stripVTControlCharacters(out),
  };
}

const at = 0;
function events(agents: number): ProgressEvent[] {
  return [
    { type: 'run', runId: 'r1', name: 'triage', state: 'started', at },
    { type: 'phase', title: 'Analyse', at },
    ...Array.from(
      { length: agents },
      (_, i): ProgressEvent => ({ type: 'call', kind: 'agent', key: `k${i}`, label: `agent ${i}`, phase: 'Analyse', state: 'running', at }),
    ),
  ];
}

describe('live progress tree', () => {
  it('terminalSize falls back for 0, missing or nonsense sizes', () => {
    expect(terminalSize({ write: () => true, rows: 0, columns: 0 })).toEqual(FALLBACK_SIZE);
    expect(terminalSize({ write: () => true })).toEqual(FALLBACK_SIZE);
    expect(terminalSize({ write: () => true, rows: Number.NaN, columns: -3 })).toEqual(FALLBACK_SIZE);
    expect(terminalSize({ write: () => true, rows: 50, columns: 120 })).toEqual({ rows: 50, columns: 120 });
  });

  it('draws the title, the phase and its running agents when the terminal reports 0 rows and 0 columns', () => {
    const term = fakeTerminal(0, 0);
    const progress = ttyProgress(term);
    for (const e of events(3)) progress.listener(e);
    progress.stop();
    const text = term.text();
    expect(text).toContain('triage (r1)');
    expect(text).toContain('0 done · 3 running');
    expect(text).toContain('Analyse 0/3');
    for (const i of [0, 1, 2]) expect(text).toContain(`agent ${i}`);
  });

  it('a tree taller than the terminal keeps the header and the newest lines', () => {
    const term = fakeTerminal(5, 100);
    const progress = ttyProgress(term);
    for (const e of events(8)) progress.listener(e);
    progress.stop();
    const frame = term.text().trimEnd().split('\n');
    expect(frame).toHaveLength(4); // rows - 1, so the frame never scrolls the terminal
    expect(frame[0]).toContain('triage (r1)');
    expect(frame[3]).toContain('agent 7');
  });
});
