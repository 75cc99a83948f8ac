import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import Anthropic from '@anthropic-ai/sdk';
import { describe, expect, it } from 'vitest';
import { runCassetteMode, sourceForMode } from '../src/gateway/sources/index.js';
import { gateway, tempDir } from './helpers.js';
import { forwardSource, serveSource } from './source-harness.js';

describe('gateway sources per mode', () => {
  it('record keeps what the client got (429s retried away); replay serves it with the upstream gone', async () => {
    const sim = await gateway(`
rules:
  - name: flaky
    match: { prompt: 'flaky' }
    faults: [{ status: 429, times: 2, retry_after_s: 0 }]
    turns: [{ text: 'fine now' }]
`);
    const tapes = join(tempDir(), 'tapes');
    const written: string[] = [];
    const record = sourceForMode('record', { upstream: forwardSource(sim.url), cassettes: tapes, rateLimits: { delay: async () => {} } });
    expect(record.source.mode).toBe('record');
    const recorder = await serveSource(record.source);
    const ask = (url: string) =>
      new Anthropic({ baseURL: url, apiKey: 'k', maxRetries: 0 }).messages.create({
        model: 'claude-sonnet-5',
        max_tokens: 20,
        stream: false,
        messages: [{ role: 'user', content: 'flaky' }],
      });
    const first = await ask(recorder.url);
    expect(first.content).toEqual([{ type: 'text', text: 'fine now' }]);
    expect(sim.stats().byStatus).toEqual({ 200: 1, 429: 2 });
    expect(record.limits()).toEqual([expect.objectContaining({ model: 'claude-sonnet-5', retries: 2 })]);
    await record.flush();
    await recorder.close();
    await sim.close();
    written.push(...readdirSync(tapes));
    expect(written).toHaveLength(1);
    expect(JSON.parse(readFileSync(join(tapes, written[0] as string), 'utf8')).response.status).toBe(200);

    const replay = sourceForMode('replay', { cassettes: tapes });
    expect(replay.limits()).toEqual([]);
    const player = await serveSource(replay.source);
    expect(await ask(player.url)).toEqual(first);
  });

  it('names what a mode is missing', () => {
    expect(() => sourceForMode('record', { cassettes: tempDir() })).toThrow(/needs an upstream/);
    expect(() => sourceForMode('replay', {})).toThrow(/needs --cassettes <dir>/);
    expect(() => sourceForMode('replay', { cassettes: join(tempDir(), 'none') })).toThrow(
      expect.objectContaining({ code: 'NO_CASSETTES' }),
    );
    expect(() => sourceForMode('sim', {})).toThrow(/needs a scenario/);
  });

  it('reads drover run --record / --replay and refuses contradictions', () => {
    expect(runCassetteMode({})).toBeNull();
    expect(runCassetteMode({ record: 'cassettes/wf', sim: 's.yaml' })).toEqual({ mode: 'record', cassettes: 'cassettes/wf' });
    expect(runCassetteMode({ replay: 'cassettes/wf' })).toEqual({ mode: 'replay', cassettes: 'cassettes/wf' });
    expect(() => runCassetteMode({ record: 'a', replay: 'b' })).toThrow(
      expect.objectContaining({ exitCode: 2, message: expect.stringContaining('together') }),
    );
    expect(() => runCassetteMode({ replay: 'a', sim: 's.yaml' })).toThrow(/cannot be used with --sim/);
    expect(() => runCassetteMode({ replay: 'a', gateway: 'http://x' })).toThrow(/cannot be used with --gateway/);
    expect(() => runCassetteMode({ replay: '' })).toThrow(/needs a cassette directory/);
  });
});
