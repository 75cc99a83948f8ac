import { describe, expect, it } from 'vitest';
import { runWorkflow } from '../src/workflow/index.js';
import { ccScript, FAST_BACKOFF, gateway, tempDir, tempStore } from './helpers.js';

/** Issue 12 §6: an answer that says the money or quota is gone is never retried; the run stops with the provider's words. */
describe('money or quota gone', () => {
  for (const [wire, provider] of [
    ['Anthropic', 'anthropic'],
    ['OpenAI Responses', 'openai'],
  ] as const) {
    it(`${wire}: an insufficient_quota 429 is asked once, and the run fails QUOTA_EXHAUSTED even inside parallel`, async () => {
      const dir = tempDir();
      const gw = await gateway(`
rules:
  - name: broke
    match: { prompt: 'costly' }
    faults: [{ status: 429, error_type: insufficient_quota, message: 'You exceeded your current quota, please check your plan and billing details.', times: 50 }]
    turns: [{ text: never }]
  - name: fine
    turns: [{ text: ok }]
`);
      const { store } = tempStore(dir);
      const s = await runWorkflow({
        store,
        workdir: dir,
        gateway: gw.url,
        provider,
        backoff: FAST_BACKOFF,
        script: ccScript(dir, `const r = await parallel([() => agent('costly')]);\nreturn r;`),
      });
      expect(s.status).toBe('failed');
      expect(s.error?.code).toBe('QUOTA_EXHAUSTED');
      expect(s.error?.message).toContain('You exceeded your current quota');
      expect(s.error?.message).toContain('add credit or raise the limit, then resume the run');
      // Never retried: one request reached the upstream.
      expect(gw.stats().byRule.broke).toBe(1);
    });
  }

  it('a plain rate limit (429 rate_limit_error) is still retried and the agent completes', async () => {
    const dir = tempDir();
    const gw = await gateway(`
rules:
  - name: busy
    faults: [{ status: 429, times: 2 }]
    turns: [{ text: ok }]
`);
    const { store } = tempStore(dir);
    const s = await runWorkflow({
      store,
      workdir: dir,
      gateway: gw.url,
      backoff: FAST_BACKOFF,
      script: ccScript(dir, `return agent('x');`),
    });
    expect(s).toMatchObject({ status: 'completed', result: 'ok' });
    expect(gw.stats().byRule.busy).toBe(3);
  });
});
