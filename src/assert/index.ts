export { type Comparison, compare, parseComparison } from './compare.js';
export { type AssertionResult, evaluateSpec, type SpecResult } from './evaluate.js';
export { diffGolden, GOLDEN_ATTRIBUTES, type GoldenNode, type GoldenTrace, loadGolden, toGolden } from './golden.js';
export { toJUnit } from './junit.js';
export type { Selector } from './selector.js';
export { type Assertion, loadSpec, parseSpec, type Spec, SpecError } from './spec.js';
export { describeSpan, TraceIndex } from './trace-index.js';
