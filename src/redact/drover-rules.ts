/**
 * @module drover's own secret rules: key shapes secretlint's recommended preset (12.0.0) misses or
 * matches too narrowly for redaction, written as secretlint rule creators so one engine runs both.
 *
 * Redaction errs towards removing: a shape here may be looser than the provider's exact format
 * (a truncated or re-formatted key is still a secret). Each rule names the source of its shape.
 */
import type { SecretLintRuleContext, SecretLintRuleCreator } from '@secretlint/types';

/** One drover rule: an id, the prefix families it covers (for the prefilter) and its pattern. */
export interface DroverRuleSpec {
  /** Rule id, `drover/<family>`. */
  id: string;
  /** A cheap regex source every match of `pattern` contains (joined into the prefilter). */
  anchor: string;
  /** The full pattern (global flag added); group 1, when present, is the secret itself. */
  pattern: RegExp;
  /** Extra check on the matched secret (group 1 or the whole match). */
  accept?: (secret: string) => boolean;
}

/**
 * Mixed case with a digit, or long hex: how generated keys look (names and words do not). Dotted
 * identifiers (`usage.cacheWrite5mTokens`) are code, not keys.
 */
function looksGenerated(s: string): boolean {
  if (/^[a-f0-9]{32,}$/i.test(s)) return true;
  if (s.length < 20 || /^[A-Za-z_$][\w$]*(?:\.[A-Za-z_$][\w$]*)+$/.test(s)) return false;
  if (/^(?:your|my|the|some|example|placeholder|changeme|redacted|xxx)/i.test(s) || /(.)\1{5,}/.test(s)) return false;
  return /[a-z]/.test(s) && /[A-Z]/.test(s) && /[0-9]/.test(s);
}

export const DROVER_RULE_SPECS: readonly DroverRuleSpec[] = [
  // Anthropic admin keys (gitleaks rule anthropic-admin-api-key: `sk-ant-admin01-…AA`), Claude Code OAuth
  // tokens from `claude setup-token` (`sk-ant-oat01-…`) and their refresh tokens (`sk-ant-ort01-…`), and
  // API keys of any length — the preset wants exactly `sk-ant-api0N-` + 90–128 chars + `AA`.
  { id: 'drover/anthropic', anchor: 'sk-ant-', pattern: /sk-ant-[a-z]{2,8}\d{0,3}-[A-Za-z0-9_-]{16,}/ },
  // OpenRouter: `sk-or-v1-` + 64 hex (the key shown on openrouter.ai/keys; trufflehog's openrouter detector).
  { id: 'drover/openrouter', anchor: 'sk-or-', pattern: /sk-or-(?:v\d+-)?[A-Za-z0-9]{20,}/ },
  // DeepSeek (`sk-` + 32 hex, platform.deepseek.com), OpenAI keys without the `T3BlbkFJ` marker the preset
  // requires (project/service/admin keys, legacy 48-char keys), Moonshot, and every other OpenAI-compatible
  // provider that issues `sk-` keys (drover's former hand-written rule, kept).
  { id: 'drover/sk-key', anchor: 'sk-', pattern: /(?<![A-Za-z0-9])sk-[A-Za-z0-9][A-Za-z0-9_-]{19,}/, accept: (s) => /\d/.test(s) },
  // xAI: `xai-` + 80 alphanumerics (console.x.ai API keys; trufflehog's xai detector).
  { id: 'drover/xai', anchor: 'xai-', pattern: /(?<![A-Za-z0-9])xai-[A-Za-z0-9_]{32,}/ },
  // Google API keys (Gemini / Generative Language, Maps…): `AIza` + 35 chars (gitleaks rule gcp-api-key).
  { id: 'drover/google-api-key', anchor: 'AIza', pattern: /AIza[0-9A-Za-z_-]{35}/ },
  // Google OAuth access tokens: `ya29.` + base64url (Google Identity docs; gitleaks gcp rules).
  { id: 'drover/google-oauth', anchor: 'ya29\\.', pattern: /ya29\.[0-9A-Za-z_-]{20,}/ },
  // Groq keys of any length (the preset wants exactly 52 chars after `gsk_`; console.groq.com keys).
  { id: 'drover/groq', anchor: 'gsk_', pattern: /gsk_[A-Za-z0-9]{20,}/ },
  // Together AI: `tgp_v1_` + 43 base64url chars (keys issued since 2025); older 64-hex keys have no
  // prefix and are caught by drover/named-secret or the env-value rule.
  { id: 'drover/together', anchor: 'tgp_v', pattern: /tgp_v\d+_[A-Za-z0-9_-]{20,}/ },
  // Fireworks AI: `fw_` + 24 alphanumerics (fireworks.ai account API keys).
  { id: 'drover/fireworks', anchor: 'fw_', pattern: /(?<![A-Za-z0-9])fw_[A-Za-z0-9]{20,}/ },
  // Perplexity: `pplx-` + 48 alphanumerics (trufflehog's perplexity detector).
  { id: 'drover/perplexity', anchor: 'pplx-', pattern: /pplx-[A-Za-z0-9]{32,}/ },
  // Replicate: `r8_` + 37 chars (replicate.com API tokens).
  { id: 'drover/replicate', anchor: 'r8_', pattern: /(?<![A-Za-z0-9])r8_[A-Za-z0-9]{30,}/ },
  // NVIDIA NIM / build.nvidia.com: `nvapi-` + 64 chars.
  { id: 'drover/nvidia', anchor: 'nvapi-', pattern: /nvapi-[A-Za-z0-9_-]{32,}/ },
  // Cerebras: `csk-` + 48 chars (cloud.cerebras.ai keys).
  { id: 'drover/cerebras', anchor: 'csk-', pattern: /(?<![A-Za-z0-9])csk-[A-Za-z0-9]{32,}/ },
  // Hugging Face tokens of any alphabet (the preset wants 34 letters exactly) and org tokens `api_org_`.
  { id: 'drover/huggingface', anchor: 'hf_|api_org_', pattern: /(?<![A-Za-z0-9])(?:hf|api_org)_[A-Za-z0-9]{30,}/ },
  // Stripe secret and restricted keys (gitleaks rule stripe-access-token).
  { id: 'drover/stripe', anchor: 'k_live_|k_test_', pattern: /(?<![A-Za-z0-9])[sr]k_(?:live|test)_[A-Za-z0-9]{20,}/ },
  // HTTP bearer tokens (RFC 6750 §2.1, b64token syntax) — drover's former hand-written rule, kept.
  { id: 'drover/bearer', anchor: '[Bb]earer\\s', pattern: /\b[Bb]earer\s+([A-Za-z0-9._~+/=-]{16,})/ },
  // HTTP Basic credentials in an Authorization header (RFC 7617).
  {
    id: 'drover/basic-auth-header',
    anchor: '[Aa]uthorization',
    pattern: /[Aa]uthorization["']?\s*[:=]\s*["']?[Bb]asic\s+([A-Za-z0-9+/]{12,}={0,2})/,
  },
  // JSON Web Tokens (RFC 7519 compact form: base64url of `{"` is `eyJ`): session and ID tokens.
  { id: 'drover/jwt', anchor: 'eyJ', pattern: /eyJ[A-Za-z0-9_-]{10,}\.eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}/ },
  // PEM private key blocks of every kind, including ones the preset skips (short, odd base64, JSON-escaped)
  // and truncated ones with no END line (`head -5 id_rsa`) — drover's former hand-written rule, widened.
  {
    id: 'drover/private-key',
    anchor: 'PRIVATE KEY',
    pattern:
      /-----BEGIN[ A-Z0-9]*PRIVATE KEY(?: BLOCK)?-----(?:[\s\S]*?-----END[ A-Z0-9]*PRIVATE KEY(?: BLOCK)?-----|(?:\\[nrt]|[\s:,.=+/A-Za-z0-9-])*)/,
  },
  // A value assigned to a secret-named key (`MISTRAL_API_KEY=…`, `"api_key": "…"`, `password: …`): the only
  // way to see keys with no prefix — Mistral (32 alphanumerics, console.mistral.ai), Together's older 64-hex
  // keys, Cohere (40 chars; gitleaks rule cohere-api-token), AWS secret keys outside `AWS_SECRET_ACCESS_KEY`.
  // The value must look generated (mixed case and a digit, or long hex), so names and prose are left alone.
  {
    id: 'drover/named-secret',
    // The anchor holds the connector and 20 value characters: `inputTokens: 1234` is not a candidate.
    anchor:
      '(?:[Kk][Ee][Yy]|[Tt][Oo][Kk][Ee][Nn]|[Ss][Ee][Cc][Rr][Ee][Tt]|[Pp][Aa][Ss][Ss][Ww]|[Cc][Rr][Ee][Dd][Ee][Nn][Tt][Ii][Aa][Ll])[A-Za-z0-9_]*\\\\?["\'`]?\\s*(?:=>|:=|=|:)\\s*\\\\?["\'`]?[A-Za-z0-9_\\-+/.~=]{20}',
    pattern:
      /(?:api[_-]?key|apikey|secret|token|passw(?:or)?d|credential|access[_-]?key|private[_-]?key)[A-Za-z0-9_]*\\?["'`]?\s*(?:=>|:=|=|:)\s*\\?["'`]?([A-Za-z0-9_\-+/.~=]{20,400})/i,
    accept: looksGenerated,
  },
];

/** A spec as a secretlint scanner rule (reports the secret's range; group 1 when the pattern has one). */
export function toRuleCreator(spec: DroverRuleSpec): SecretLintRuleCreator {
  const global = new RegExp(spec.pattern.source, spec.pattern.flags.includes('g') ? spec.pattern.flags : `${spec.pattern.flags}g`);
  const messages = { SECRET: { en: (props?: { SECRET?: string }) => `found a secret (${spec.id}): ${props?.SECRET ?? ''}` } };
  return {
    messages,
    meta: { id: spec.id, type: 'scanner', recommended: true, supportedContentTypes: ['text'] },
    create(context: SecretLintRuleContext) {
      const t = context.createTranslator(messages);
      return {
        file(source) {
          for (const m of source.content.matchAll(global)) {
            const secret = m[1] ?? m[0];
            if (spec.accept && !spec.accept(secret)) continue;
            const start = (m.index ?? 0) + (m[1] === undefined ? 0 : m[0].lastIndexOf(secret));
            context.report({ message: t('SECRET', { SECRET: secret }), range: [start, start + secret.length] });
          }
        },
      };
    },
  };
}
