/**
 * @module What an OS sandbox allows: the shape a run carries (`SandboxSpec`), its zod schema for
 * `meta.sandbox` and the defaults. No I/O here.
 */
import { z } from 'zod';

/**
 * How processes drover starts (`sh` steps, the builtin agent's `bash` tool, and with `wrapAgents`
 * the agent CLIs) are confined. Paths are absolute (a spec from `meta.sandbox` is resolved against
 * the run's workdir before it reaches here; see src/workflow/run-sandbox.ts).
 *
 * - `enabled`: false runs processes as before; true runs each inside bubblewrap, or refuses it
 *   (`SANDBOX_UNAVAILABLE`) — never unsandboxed.
 * - `writablePaths`: bound read-write; everything else is read-only. Each must exist and must not
 *   itself be a symbolic link (it is resolved with realpath before binding).
 * - `readablePaths`: when given, only the system directories (`SYSTEM_DIRS`), these paths and the
 *   writable ones are visible; when absent the whole filesystem is visible read-only.
 * - `deniedPaths`: hidden (an empty directory or file is mounted over them). `~/` means the
 *   user's home; a relative name is looked up at the top of each writable path and of the cwd.
 *   Absent: `DEFAULT_DENIED`.
 * - `network`: `none` gives the process its own network namespace (only its own loopback);
 *   `host` shares the machine's.
 * - `wrapAgents`: the claude-code and codex CLIs themselves run inside the sandbox (see docs/sandbox.md).
 */
export interface SandboxSpec {
  enabled: boolean;
  writablePaths: string[];
  readablePaths?: string[];
  deniedPaths?: string[];
  network: 'none' | 'host';
  wrapAgents?: boolean;
}

/**
 * Secrets a process has no business reading: credentials of ssh, cloud CLIs, package registries
 * and git hosts under the user's home, and `.env` files at the top of the workspace.
 */
export const DEFAULT_DENIED: readonly string[] = [
  '~/.ssh',
  '~/.aws',
  '~/.azure',
  '~/.gnupg',
  '~/.kube',
  '~/.docker',
  '~/.netrc',
  '~/.npmrc',
  '~/.pypirc',
  '~/.git-credentials',
  '~/.config/gcloud',
  '~/.config/gh',
  '.env',
  '.env.local',
  '.envrc',
];

/**
 * Kept read-only even inside a writable path: drover's own store (a sandboxed command must not
 * rewrite the journal it is judged by) and the git files that make the host run code later
 * (hooks; `core.fsmonitor`/`core.hooksPath` in the config).
 */
export const PROTECTED_WITHIN_WRITABLE: readonly string[] = ['.drover', '.git/hooks', '.git/config'];

/** What stays visible when `readablePaths` narrows the filesystem: programs, libraries, their configuration. */
export const SYSTEM_DIRS: readonly string[] = ['/usr', '/bin', '/sbin', '/lib', '/lib32', '/lib64', '/libx32', '/etc', '/opt'];

const SandboxFieldsSchema = z
  .object(
    {
      enabled: z.boolean().optional(),
      writablePaths: z.array(z.string().min(1, 'a path must be a non-empty string')).optional(),
      readablePaths: z.array(z.string().min(1, 'a path must be a non-empty string')).optional(),
      deniedPaths: z.array(z.string().min(1, 'a path must be a non-empty string')).optional(),
      network: z.enum(['none', 'host']).optional(),
      wrapAgents: z.boolean().optional(),
    },
    {
      error: (issue) =>
        issue.code === 'invalid_type'
          ? 'must be true, false or an object { enabled, writablePaths, readablePaths, deniedPaths, network, wrapAgents }'
          : undefined,
    },
  )
  .strict();

/** The object form of `meta.sandbox` (paths may be relative to the workdir). */
export type SandboxMetaFields = z.infer<typeof SandboxFieldsSchema>;

/** `meta.sandbox`: `true` (workspace writable, no network), `false`, or the fields of a spec (paths relative to the workdir allowed). */
export type SandboxMeta = boolean | SandboxMetaFields;

/** Validates `meta.sandbox`; a boolean is read as `{ enabled }`, so every error names the field that is wrong. */
export const SandboxMetaSchema: z.ZodType<SandboxMetaFields, SandboxMeta> = z.preprocess(
  (v) => (typeof v === 'boolean' ? { enabled: v } : v),
  SandboxFieldsSchema,
) as unknown as z.ZodType<SandboxMetaFields, SandboxMeta>;
