// drover ui in headless Chromium on a finished 1,000-agent run with 20,001 spans (issue 13's figure):
// the run page's first contentful paint and the waterfall interactive (first rows on screen), on a
// fresh `drover ui` (nothing cached), then the time per action: scroll to the middle, collapse to
// depth 1, back to all, filter. Times come from the page's own clock (performance.now).
import { existsSync } from 'node:fs';

const CHROMIUM = process.env.DROVER_CHROMIUM ?? '/usr/bin/chromium';

/** Waits in the page until `test()` holds, checking every animation frame; ms from `t0`. */

export async function pageFigures(url, runId) {
  if (!existsSync(CHROMIUM)) return { skipped: `no Chromium at ${CHROMIUM}` };
  const { chromium } = await import('playwright-core');
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--no-first-run'],
  });
  try {
    const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
    // The page's own clock when the first waterfall row is in the DOM (waterfallInteractiveMs below
    // also counts Playwright's round-trips to notice it, tens to hundreds of ms on a busy machine).
    await page.addInitScript(() => {
      const seen = new MutationObserver(() => {
        if (document.querySelector('[data-span]')) {
          globalThis.firstRowsAt = performance.now();
          seen.disconnect();
        }
      });
      document.addEventListener('DOMContentLoaded', () => seen.observe(document.body, { childList: true, subtree: true }));
    });
    // The token comes in the opened URL; the run's trace tab is the page under test.
    const target = new URL(url);
    target.hash = `#/run/${encodeURIComponent(runId)}/trace`;
    await page.goto(target.href, { waitUntil: 'commit' });
    await page.locator('[data-span]').first().waitFor({ timeout: 30_000 });
    const load = await page.evaluate(() => {
      const fcp = performance.getEntriesByName('first-contentful-paint')[0]?.startTime ?? null;
      return {
        firstContentfulPaintMs: fcp === null ? null : Math.round(fcp),
        waterfallFirstRowsMs: globalThis.firstRowsAt === undefined ? null : Math.round(globalThis.firstRowsAt),
        waterfallInteractiveMs: Math.round(performance.now()),
        spansRequestsToOpen: performance.getEntriesByType('resource').filter((e) => e.name.includes('/spans')).length,
      };
    });
    const count = () => page.locator('[data-testid="wf-count"]').textContent();
    const action = async (doIt, until) => {
      const t0 = await page.evaluate(() => performance.now());
      await doIt();
      await until();
      return Math.round((await page.evaluate(() => performance.now())) - t0);
    };
    const scroll = await action(
      () =>
        page.locator('[data-testid="waterfall"]').evaluate((el) => {
          el.scrollTop = el.scrollHeight / 2;
          el.dispatchEvent(new Event('scroll'));
        }),
      () => page.locator('[data-span][data-name="invoke_agent a500"]').waitFor({ timeout: 30_000 }),
    );
    const collapse = await action(
      () => page.locator('[data-testid="wf-depth"]').selectOption('1'),
      () =>
        page.waitForFunction(() => document.querySelector('[data-testid="wf-count"]')?.textContent?.startsWith('1001 of'), null, {
          timeout: 30_000,
        }),
    );
    const expand = await action(
      () => page.locator('[data-testid="wf-depth"]').selectOption(''),
      () =>
        page.waitForFunction(() => document.querySelector('[data-testid="wf-count"]')?.textContent?.startsWith('20001 of'), null, {
          timeout: 30_000,
        }),
    );
    const filter = await action(
      () => page.locator('[data-testid="wf-filter"]').fill('a999'),
      () =>
        page.waitForFunction(() => document.querySelector('[data-testid="wf-count"]')?.textContent?.startsWith('2 of'), null, {
          timeout: 30_000,
        }),
    );
    // The same actions timed inside the page (its clock, from the input to the DOM showing the
    // result), without Playwright's round-trips: the figure the "< 50 ms per action" is about.
    const inPage = (act) =>
      page.evaluate(
        (a) =>
          new Promise((resolve, reject) => {
            const wf = document.querySelector('[data-testid="waterfall"]');
            const count = () => document.querySelector('[data-testid="wf-count"]')?.textContent ?? '';
            const steps = {
              scrollToEnd: [
                () => {
                  wf.scrollTop = wf.scrollHeight;
                  wf.dispatchEvent(new Event('scroll'));
                },
                () =>
                  document.querySelector('[data-span][data-name="chat m"][data-depth="2"]') &&
                  wf.scrollTop > 0 &&
                  document.querySelector('[data-span][data-name^="invoke_agent a999"]'),
              ],
              scrollToTop: [
                () => {
                  wf.scrollTop = 0;
                  wf.dispatchEvent(new Event('scroll'));
                },
                () => document.querySelector('[data-span][data-name="invoke_workflow big"]'),
              ],
              collapseToDepth1: [
                () => {
                  const sel = document.querySelector('[data-testid="wf-depth"]');
                  sel.value = '1';
                  sel.dispatchEvent(new Event('change', { bubbles: true }));
                },
                () => count().startsWith('1001 of'),
              ],
              expandAll: [
                () => {
                  const sel = document.querySelector('[data-testid="wf-depth"]');
                  sel.value = '';
                  sel.dispatchEvent(new Event('change', { bubbles: true }));
                },
                () => count().startsWith('20001 of'),
              ],
            };
            const [doIt, done] = steps[a];
            const t0 = performance.now();
            const seen = new MutationObserver(() => {
              if (done()) {
                seen.disconnect();
                resolve(Math.round(performance.now() - t0));
              }
            });
            seen.observe(document.body, { childList: true, subtree: true, characterData: true, attributes: true });
            doIt();
            setTimeout(() => reject(new Error(`${a}: not done in 30 s`)), 30_000);
          }),
        act,
      );
    await page.locator('[data-testid="wf-filter"]').fill('');
    await page.waitForFunction(() => document.querySelector('[data-testid="wf-count"]')?.textContent?.startsWith('20001 of'), null, {
      timeout: 30_000,
    });
    const actionsInPageMs = {};
    for (const a of ['scrollToEnd', 'scrollToTop', 'collapseToDepth1', 'expandAll']) actionsInPageMs[a] = await inPage(a);
    return {
      ...load,
      actionsInPageMs,
      actionsMs: { scrollToMiddle: scroll, collapseToDepth1: collapse, expandAll: expand, filter },
      shown: await count(),
    };
  } finally {
    await browser.close();
  }
}
