/** @module The agent backends a policy names (the same list as src/agents `BACKEND_NAMES`; a test keeps them equal). */
export const BACKEND_NAMES_FOR_POLICY = ['builtin', 'claude-code', 'codex'] as const;
