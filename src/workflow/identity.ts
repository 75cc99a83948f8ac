/** @module Structural call identity: which branch a call is in, and where in that branch. */
import { AsyncLocalStorage } from 'node:async_hooks';
import { canonicalJson, sha256Hex } from '../core/index.js';
import type { CallKind } from '../store/index.js';

/**
 * Kinds whose result depends on the world at the moment they run (a command's output, a
 * step's I/O, the board, the clock): reused only when everything before them in their
 * branch is unchanged. The other kinds (agent, ask) are reusable by content wherever they moved.
 */
export const WORLD_KINDS: ReadonlySet<CallKind> = new Set<CallKind>(['sh', 'step', 'task', 'clock', 'random', 'sleep', 'budget']);

/** Kinds that are values read synchronously by the script, not calls (not counted as calls). */
export const VALUE_KINDS: ReadonlySet<CallKind> = new Set<CallKind>(['clock', 'random', 'budget']);

/**
 * One line of execution in a script: the top level, one `parallel` thunk, one `pipeline`
 * item's stage, or a nested `workflow`. Calls inside a branch are issued in program order
 * whatever the timing of other branches, so numbering them per branch is deterministic.
 */
export class Branch {
  private readonly occurrences = new Map<string, number>();
  private forks = 0;

  /**
   * @param path readable structural path (`/p0.1/w0:child`), part of every key in the branch
   * @param chain hash of everything issued before the next call in this branch (and in its ancestors before the fork)
   */
  constructor(
    readonly path: string,
    private chain: string,
  ) {}

  /** A child branch for fork number `n` of this branch, item `segment`. */
  child(segment: string): Branch {
    return new Branch(`${this.path}/${segment}`, sha256Hex(`${this.chain}|fork|${segment}`));
  }

  /** Continues this branch after `child` (a pipeline item's next stage follows its previous one). */
  continueFrom(child: Branch): void {
    this.chain = child.chain;
  }

  /**
   * Numbers the forks (`p` parallel, `l` pipeline, `w` workflow) this branch makes, in program
   * order. A fork is part of what comes before the branch's next call; what its children do is
   * not (they finish in any order), so the chain stays independent of timing.
   */
  nextFork(kind: 'p' | 'l' | 'w'): number {
    const n = this.forks++;
    this.chain = sha256Hex(`${this.chain}|${kind}${n}`);
    return n;
  }

  /** Identity of the next call with this content in this branch; advances the branch. */
  next(kind: CallKind, contentKey: string): { positionKey: string; chainKey: string } {
    const occurrence = this.occurrences.get(contentKey) ?? 0;
    this.occurrences.set(contentKey, occurrence + 1);
    const positionKey = `${kind}:${sha256Hex(`${this.path}|${contentKey}|${occurrence}`).slice(0, 40)}`;
    this.chain = sha256Hex(`${this.chain}|${contentKey}`);
    const chainKey = `${kind}:${this.chain.slice(0, 40)}`;
    return { positionKey, chainKey };
  }
}

/**
 * A call's identities (DESIGN.md, "Call identity is structural"):
 * - `key`: the journal key. For agents and asks the position key; for world-dependent kinds the chain key.
 * - `positionKey`: branch path + kind + canonical inputs + occurrence among identical calls in that branch.
 * - `chainKey`: the same call after exactly the same calls in its branch (and its ancestors up to the fork).
 * - `contentKey`: kind + canonical inputs, for reusing agent results wherever they moved.
 * - `legacyKey`: the key drover wrote before structural identity (issue order across the run), to keep
 *   resuming journals written by earlier versions.
 */
export interface CallIds {
  key: string;
  positionKey: string;
  chainKey: string;
  contentKey: string;
  /** Only when the journal holds entries written by an earlier drover. */
  legacyKey?: string;
  branch: string;
}

/**
 * Assigns call identities from the branch the calling code runs in. The branch travels with
 * the script's async continuations (AsyncLocalStorage), so `agent()` called after an `await`
 * inside a `parallel` thunk still knows which thunk it belongs to.
 */
export class CallIdentity {
  private readonly current = new AsyncLocalStorage<Branch>();
  readonly root = new Branch('', sha256Hex('drover:root'));
  private readonly legacySeen = new Map<string, number>();

  /** @param legacy also compute the keys of earlier drover versions (the journal has such entries) */
  constructor(private readonly legacy = false) {}

  /** The branch of the code running now (the root outside any fork). */
  branch(): Branch {
    return this.current.getStore() ?? this.root;
  }

  /** Runs `fn` inside `branch`: every call it makes, after any number of awaits, belongs there. */
  within<T>(branch: Branch, fn: () => T): T {
    return this.current.run(branch, fn);
  }

  /**
   * Identities for a call of `kind` with canonical `inputs`, issued now.
   * `legacyScope` is the nested workflow name that keys of earlier drover versions included.
   */
  identify(kind: CallKind, inputs: unknown, legacyScope: string | null): CallIds {
    const branch = this.branch();
    const contentKey = `${kind}:${sha256Hex(canonicalJson({ kind, inputs })).slice(0, 40)}`;
    const { positionKey, chainKey } = branch.next(kind, contentKey);
    return {
      key: WORLD_KINDS.has(kind) ? chainKey : positionKey,
      positionKey,
      chainKey,
      contentKey,
      branch: branch.path,
      ...(this.legacy ? { legacyKey: this.legacyKey(kind, inputs, legacyScope) } : {}),
    };
  }

  /** drover ≤ 0.1's key: a hash of kind + inputs (+ nested workflow name) and the global issue order. */
  private legacyKey(kind: CallKind, inputs: unknown, scope: string | null): string {
    const base = sha256Hex(canonicalJson({ kind, inputs: { ...(inputs as object), scope: scope ?? undefined } }));
    const occurrence = this.legacySeen.get(base) ?? 0;
    this.legacySeen.set(base, occurrence + 1);
    return `${kind}:${sha256Hex(`${base}:${occurrence}`).slice(0, 40)}`;
  }
}
