import type { SpecResult } from './evaluate.js';

const xml = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

/** JUnit XML for CI: one test case per assertion. */
export function toJUnit(result: SpecResult, extra: { name: string; failures: string[] }[] = []): string {
  const cases = [
    ...result.results.map((r) => ({ name: r.name, where: r.where, failures: r.failures })),
    ...extra.map((x) => ({ name: x.name, where: '', failures: x.failures })),
  ];
  const failed = cases.filter((c) => c.failures.length > 0).length;
  const body = cases
    .map((c) => {
      const open = `    <testcase classname="${xml(result.spec)}" name="${xml(c.name)}"${c.where ? ` file="${xml(c.where)}"` : ''}>`;
      if (c.failures.length === 0) return `${open}</testcase>`;
      return `${open}\n      <failure message="${xml(c.failures[0] ?? 'failed')}">${xml(c.failures.join('\n'))}</failure>\n    </testcase>`;
    })
    .join('\n');
  return `<?xml version="1.0" encoding="UTF-8"?>
<testsuites tests="${cases.length}" failures="${failed}">
  <testsuite name="${xml(result.spec)}" tests="${cases.length}" failures="${failed}" time="${(result.durationMs / 1000).toFixed(3)}">
${body}
  </testsuite>
</testsuites>
`;
}
