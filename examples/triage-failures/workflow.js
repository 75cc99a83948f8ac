export const meta = {
  name: 'triage-failures',
  description: 'List failing CI checks, investigate each with an agent, verify every finding with two independent agents, summarize.',
  phases: [
    { title: 'Collect', detail: 'ask CI which checks fail' },
    { title: 'Investigate', detail: 'one agent per failure, structured finding' },
    { title: 'Verify', detail: 'two independent reviewers per finding' },
    { title: 'Summarize' },
  ],
};

// Journaled: a resume sees the same start time, so the result is identical.
const startedAt = new Date().toISOString();

phase('Collect');
// The fake CI ships beside this script: scriptDir finds it from any folder (sh runs in the run's workdir).
const report = args?.ciCommand ? await sh(args.ciCommand) : await sh('node ci-report.mjs', { cwd: scriptDir });
if (report.exitCode !== 0) throw new Error(`CI query failed: ${report.stderr}`);
const { build, failures } = JSON.parse(report.stdout);
log(`${failures.length} failing checks in ${build}`);

const FINDING = {
  type: 'object',
  properties: {
    check: { type: 'string' },
    rootCause: { type: 'string' },
    file: { type: 'string' },
    fix: { type: 'string' },
    confidence: { type: 'number', minimum: 0, maximum: 1 },
  },
  required: ['check', 'rootCause', 'file', 'fix', 'confidence'],
};
const VERDICT = {
  type: 'object',
  properties: { agree: { type: 'boolean' }, note: { type: 'string' } },
  required: ['agree', 'note'],
};

phase('Investigate');
// No barrier: each finding goes to its reviewers as soon as it exists.
const verified = await pipeline(
  failures,
  (failure) =>
    agent(`Investigate failing check ${failure.check}.\nLog:\n${failure.log}\nFind the root cause and the smallest fix.`, {
      label: `investigate ${failure.check}`,
      phase: 'Investigate',
      schema: FINDING,
    }),
  async (finding, failure) => {
    if (!finding) return null;
    const verdicts = await parallel(
      [1, 2].map((reviewer) => () =>
        agent(`Independently verify this finding for check ${failure.check} (reviewer ${reviewer}):\n${JSON.stringify(finding)}`, {
          label: `verify ${failure.check} #${reviewer}`,
          phase: 'Verify',
          schema: VERDICT,
        }),
      ),
    );
    return { ...finding, confirmations: verdicts.filter((v) => v?.agree).length };
  },
);

phase('Summarize');
const confirmed = verified.filter((f) => f && f.confirmations === 2);
const disputed = verified.filter((f) => f && f.confirmations < 2).map((f) => f.check);
log(`${confirmed.length} of ${failures.length} findings confirmed by both reviewers`);
const summary = await agent(`Write a three-line triage summary for the team.\nConfirmed findings:\n${JSON.stringify(confirmed)}\nDisputed: ${disputed.join(', ') || 'none'}`, {
  label: 'summary',
});

return { build, startedAt, failing: failures.length, confirmed, disputed, summary };
