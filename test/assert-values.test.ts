// How spec literals are typed and how every check reads a value; exact messages; regex flags;
// duration units; JUnit and --json free of terminal escapes and valid as XML.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { evaluateSpec, parseSpec, SpecError, toJUnit } from '../src/assert/index.js';
import type { StoredSpan } from '../src/store/index.js';
import { spansToOtlpJson } from '../src/telemetry/index.js';
import { cli, tempDir, write } from './helpers.js';

let next = 1;
function span(name: string, attributes: StoredSpan['attributes'] = {}, extra: Partial<StoredSpan> = {}): StoredSpan {
  const spanId = (next++).toString(16).padStart(16, '0');
  return {
    traceId: 'f'.repeat(32),
    spanId,
    parentSpanId: null,
    name,
    kind: 2,
    startUs: 1_000_000,
    endUs: 1_000_800,
    statusCode: 0,
    statusMessage: null,
    service: 'svc',
    scope: null,
    attributes,
    resource: { 'service.name': 'svc', 'service.version': '2.0' },
    events: [],
    runId: null,
    ...extra,
  };
}

/** Each assertion's pass/fail over the spans. */
function verdicts(yaml: string, spans: StoredSpan[]): boolean[] {
  return evaluateSpec(parseSpec(yaml), spans).results.map((r) => r.passed);
}

function specError(yaml: string): string {
  try {
    parseSpec(yaml);
  } catch (err) {
    expect(err).toBeInstanceOf(SpecError);
    return (err as Error).message;
  }
  throw new Error('expected a SpecError');
}

describe('literal typing: quoted YAML stays a string, unquoted follows the attribute', () => {
  it('\'2.0\' equals the string service.version "2.0": = passes, != fails, the selector selects it (the issue: all three wrong)', () => {
    const spans = [span('GET /a')];
    expect(
      verdicts(
        `assertions:
  - expect: { attributes: { service.version: '2.0' } }
  - expect: { attributes: { service.version: '!= 2.0' } }
  - select: { attributes: { service.version: '2.0' } }
    expect: { count: 1 }
  - expect: { attributes: { service.version: 2.0 } }
  - expect: { attributes: { service.version: "= '2.0'" } }
  - expect: { attributes: { service.version: 2 } }
`,
        spans,
      ),
    ).toEqual([true, false, true, true, true, false]);
  });

  it('numbers, booleans and strings each compare by the attribute type, with a hint when quotes made the difference', () => {
    const s = span('GET /a', { status: 200, ratio: 2, flag: true, hex: '0x1F', n31: 31, label: 'true' });
    expect(
      verdicts(
        `assertions:
  - expect: { attributes: { status: 200 } }
  - expect: { attributes: { status: '200' } }
  - expect: { attributes: { ratio: 2.0 } }
  - expect: { attributes: { ratio: "= '2'" } }
  - expect: { attributes: { flag: true } }
  - expect: { attributes: { flag: 'true' } }
  - expect: { attributes: { label: true } }
  - expect: { attributes: { hex: 0x1F } }
  - expect: { attributes: { n31: 0x1F } }
  - expect: { attributes: { status: '>= 199.5' } }
`,
        [s],
      ),
    ).toEqual([true, false, true, false, true, false, true, true, true, true]);
    const r = evaluateSpec(parseSpec("assertions:\n  - expect: { attributes: { status: '200' } }\n"), [s]);
    expect(r.results[0]?.failures).toEqual([
      `'GET /a' (service svc): status is 200 (the spec's "200" is quoted, so it is a string; write it unquoted to compare numbers), expected = "200"`,
    ]);
    expect(specError('assertions:\n  - expect: { attributes: { status: "< \'5\'" } }\n')).toMatch(
      /<spec>:2:\d+: assertions\.0\.expect\.attributes\.status: "< '5'": < compares numbers; "5" is quoted, so it is a string/,
    );
    // A count is a number whichever way it is written.
    expect(verdicts("assertions:\n  - expect: { count: '1' }\n  - expect: { count: '= 1' }\n", [s])).toEqual([true, true]);
  });
});

describe('one rule for reading a number: order comparisons and sum agree', () => {
  it('sum reads numeric strings as numbers (the issue: counted as 0 and passed while the per-span check failed)', () => {
    const spans = [span('chat', { cost: '0.4' }), span('chat', { cost: '0.3' }), span('chat', {})];
    const r = evaluateSpec(
      parseSpec(`assertions:
  - name: total
    select: { name: chat }
    expect: { sum: { cost: '<= 0.5' } }
  - name: each
    select: { name: chat, attributes: { cost: '>= 0' } }
    expect: { attributes: { cost: '<= 0.35' } }
`),
      spans,
    );
    expect(r.results.map((x) => x.failures)).toEqual([
      ['sum of cost over 3 spans is 0.7, expected <= 0.5 (1 of them have no cost)'],
      [`'chat' (service svc): cost is "0.4", expected <= 0.35`],
    ]);
    const junk = evaluateSpec(parseSpec("assertions:\n  - expect: { sum: { cost: '<= 100' }, attributes: { cost: '< 100' } }\n"), [
      span('x', { cost: 'n/a' }),
      span('y', { cost: [1, 2] }),
    ]);
    expect(junk.results[0]?.failures).toEqual([
      `'x' (service svc): cost is "n/a", not a number, expected < 100`,
      `'y' (service svc): cost is [1,2], not a number, expected < 100`,
      `sum of cost: 'x' (service svc) has cost = "n/a", not a number`,
      `sum of cost: 'y' (service svc) has cost = [1,2], not a number`,
    ]);
  });
});

describe('messages say exactly what is wrong', () => {
  it("a trace whose one top span lost its parent is not 'every span's parent is missing'", () => {
    const top = span('GET /x', {}, { parentSpanId: 'e'.repeat(16) });
    const kids = [span('a', {}, { parentSpanId: top.spanId }), span('b', {}, { parentSpanId: top.spanId })];
    const r = evaluateSpec(parseSpec('assertions:\n  - expect: { oneRootPerTrace: true }\n'), [top, ...kids]);
    expect(r.results[0]?.failures).toEqual([
      `trace ${'f'.repeat(32)} has no root span: 'GET /x' (service svc) names parent eeeeeeeeeeeeeeee, which is not there (the other 2 spans hang below it)`,
    ]);
    const all = [span('a', {}, { parentSpanId: '1'.repeat(16) }), span('b', {}, { parentSpanId: '2'.repeat(16) })];
    expect(evaluateSpec(parseSpec('assertions:\n  - expect: { oneRootPerTrace: true }\n'), all).results[0]?.failures).toEqual([
      `trace ${'f'.repeat(32)} has no root span: every span's parent is missing`,
    ]);
  });

  it('a selector that matches nothing says so, naming the part, instead of reporting a broken link', () => {
    const root = span('GET /checkout', {}, { service: 'checkout' });
    const db = span('db.query', { 'db.system': 'postgresql' }, { parentSpanId: root.spanId, service: 'checkout' });
    const r = evaluateSpec(
      parseSpec(`assertions:
  - select: { name: db.query }
    expect: { ancestor: { name: GET /chekout, service: checkout } }
  - select: { name: db.qeury }
    expect: { sameTrace: true }
  - select: { name: db.query, service: checkout, kind: client }
    expect: { count: '>= 1' }
`),
      [root, db],
    );
    expect(r.results.map((x) => x.failures)).toEqual([
      [
        'no span matches the ancestor selector (spans with name "GET /chekout", service checkout): no span has name "GET /chekout"; so none of the 1 selected span can have it above (check the selector)',
      ],
      ['selected no spans (spans with name "db.qeury"): no span has name "db.qeury"; mark the assertion optional if that is allowed'],
      ['expected count >= 1, found 0 (spans with name "db.query", service checkout, kind client: no span has kind client)'],
    ]);
    expect(r.results[0]?.failures.join()).not.toMatch(/new trace|propagat/);
  });

  it('takes /…/flags as a regular expression with flags, and refuses g and y', () => {
    const spans = [span('GET /checkout', { route: '/API/orders' })];
    expect(
      verdicts(
        `assertions:
  - select: { name: '/^get /i' }
    expect: { count: 1 }
  - select: { name: '/^get /' }
    expect: { count: 1 }
  - expect: { attributes: { route: 'matches /^/api/i' } }
  - expect: { attributes: { route: 'matches ^/API' } }
  - select: { name: '/api/users' }
    expect: { count: 0 }
`,
        spans,
      ),
    ).toEqual([true, false, true, true, true]);
    expect(specError("assertions:\n  - select: { name: '/x/g' }\n    expect: { count: 1 }\n")).toMatch(
      /<spec>:2:\d+: assertions\.0\.select\.name: "\/x\/g": the regular expression flags g and y are not allowed/,
    );
  });

  it('reads ns, us, µs, ms, s, m and h durations, fractions kept', () => {
    const s = span('op'); // 800 µs
    expect(
      verdicts(
        `assertions:
  - expect: { duration: '< 1ms' }
  - expect: { duration: '< 500us' }
  - expect: { duration: '>= 800µs' }
  - expect: { duration: '> 799999ns' }
  - expect: { duration: '< 0.0008s' }
  - expect: { duration: '<= 0.8' }
  - expect: { duration: '< 1m' }
  - expect: { duration: '< 1h' }
  - expect: { duration: '!= 800us' }
`,
        [s],
      ),
    ).toEqual([true, false, true, true, false, true, true, true, false]);
    expect(evaluateSpec(parseSpec("assertions:\n  - expect: { duration: '< 500us' }\n"), [s]).results[0]?.failures).toEqual([
      "'op' (service svc): took 800 µs, expected < 500us",
    ]);
    expect(specError("assertions:\n  - expect: { duration: '< 5 fortnights' }\n")).toMatch(/units: ns, us, µs, ms, s, m, h, d/);
  });
});

/** Every character XML 1.0 allows (its `Char` production). */
const XML_CHARS = /^[\t\n\r\u0020-\ud7ff\ue000-\ufffd\u{10000}-\u{10ffff}]*$/u;

describe('machine output has no terminal escapes, and JUnit is valid XML', () => {
  const nasty = '\u001b[31mFAILED\u001b[0m <b>&"quotes"\u0000\u0007 \ud800 end';

  it('toJUnit escapes XML, drops ANSI colours and replaces what XML 1.0 cannot hold', () => {
    const spans = [span(`GET ${nasty}`, {}, { statusCode: 2, statusMessage: nasty })];
    const r = evaluateSpec(
      parseSpec(`name: "spec \\e[1m<&>"\nassertions:\n  - name: "ok? \\e[32m'yes'"\n    expect: { status: ok }\n`),
      spans,
    );
    const xml = toJUnit(r, [{ name: 'golden', failures: [nasty] }]);
    expect(xml).not.toContain('\u001b');
    expect(xml).toMatch(XML_CHARS);
    expect(xml).toContain('<testsuite name="spec &lt;&amp;&gt;"');
    expect(xml).toContain('name="ok? &apos;yes&apos;"');
    expect(xml).toContain(
      'GET FAILED &lt;b&gt;&amp;&quot;quotes&quot;\\u0000\\u0007 \ufffd end&apos; (service svc): status error (&quot;FAILED &lt;b&gt;&amp;\\&quot;quotes\\&quot;',
    );
    expect(r.results[0]?.failures[0]).not.toContain('\u001b');
  });

  it('drover assert --junit and --json on a span with ANSI colours: valid XML, no escapes in JSON', async () => {
    const dir = tempDir();
    const file = write(
      dir,
      'trace.json',
      JSON.stringify(spansToOtlpJson([span(`test ${nasty}`, {}, { statusCode: 2, statusMessage: nasty })])),
    );
    const spec = write(dir, 'spec.yaml', 'name: gate\nassertions:\n  - name: no errors\n    expect: { status: unset }\n');
    const junit = join(dir, 'junit.xml');
    const r = await cli(['assert', spec, '--file', file, '--junit', junit, '--json'], { env: { FORCE_COLOR: '1' } });
    expect(r.code, r.stderr).toBe(1);
    expect(r.stdout).not.toContain('\u001b');
    expect(r.stdout).not.toContain('\\u001b');
    const json = JSON.parse(r.stdout) as { results: { failures: string[] }[] };
    expect(json.results[0]?.failures[0]).toMatch(/^'test FAILED <b>&"quotes"\\u0000\\u0007 \ud800 end' \(service svc\): status error/);
    const xml = readFileSync(junit, 'utf8');
    expect(xml).not.toContain('\u001b');
    expect(xml).toMatch(XML_CHARS);
    // A real XML parser (expat, through Python) where there is one.
    const py = spawnSync(
      'python3',
      [
        '-c',
        'import sys, xml.dom.minidom as m; d = m.parse(sys.argv[1]); print(d.getElementsByTagName("failure")[0].getAttribute("message"))',
        junit,
      ],
      {
        encoding: 'utf8',
      },
    );
    if (py.error === undefined) {
      expect(py.status, py.stderr).toBe(0);
      expect(py.stdout).toMatch(/^'test FAILED <b>&"quotes"\\u0000\\u0007 \ufffd end' \(service svc\): status error/);
    }
  });
});
