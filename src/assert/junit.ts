import type { SpecResult } from './evaluate.js';
import { xmlEscape } from './text.js';

/**
 * JUnit XML for CI: one test case per assertion (and per `extra` check, e.g. the golden
 * comparison). Valid XML 1.0 whatever the messages hold: terminal escapes are removed and
 * characters XML cannot carry are escaped or replaced (see `xmlEscape`).
 */
export function toJUnit(result: SpecResult, extra: { name: string; failures: string[] }[] = []): string {
  const attr = (s: string) => xmlEscape(s, true);
  const cases = [
    ...result.results.map((r) => ({ name: r.name, where: r.where, failures: r.failures })),
    ...extra.map((x) => ({ name: x.name, where: '', failures: x.failures })),
  ];
  const failed = cases.filter((c) => c.failures.length > 0).length;
  const body = cases
    .map((c) => {
      const open = `    <testcase classname="${attr(result.spec)}" name="${attr(c.name)}"${c.where ? ` file="${attr(c.where)}"` : ''}>`;
      if (c.failures.length === 0) return `${open}</testcase>`;
      return `${open}\n      <failure message="${attr(c.failures[0] ?? 'failed')}">${xmlEscape(c.failures.join('\n'))}</failure>\n    </testcase>`;
    })
    .join('\n');
  return `<?xml version="1.0" encoding="UTF-8"?>
<testsuites tests="${cases.length}" failures="${failed}">
  <testsuite name="${attr(result.spec)}" tests="${cases.length}" failures="${failed}" time="${(result.durationMs / 1000).toFixed(3)}">
${body}
  </testsuite>
</testsuites>
`;
}
