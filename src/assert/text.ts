/**
 * @module Text from spans made safe for reports: terminal escapes removed, control characters
 * shown (`\u0007`), and XML 1.0 escaping for JUnit. Span names, status messages and attribute
 * values come from any instrumented app; a report must not carry their colours or break on them.
 */

// ANSI/VT sequences: CSI (`ESC [ … final`, or the 8-bit CSI 0x9b), OSC (`ESC ] … BEL|ESC \`), and
// two-character escapes (`ESC x`).
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching terminal escapes is the point
const ANSI = /(?:\u001b\[|\u009b)[0-?]*[ -/]*[@-~]|\u001b\][^\u0007\u001b]*(?:\u0007|\u001b\\)?|\u001b[@-Z\\-_]/g;
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/g;

/** Text without terminal escape sequences (colours, cursor moves, titles). */
export function stripAnsi(text: string): string {
  return text.replace(ANSI, '');
}

/** `\u001b` etc. as text. */
const escapeControl = (c: string) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`;

/** One line of plain text: terminal escape sequences removed, other control characters (newlines too) shown as `\uXXXX`. */
export function printable(text: string): string {
  return text.replace(ANSI, '').replace(CONTROL, escapeControl);
}

/** Text with no terminal escape sequences (newlines and tabs kept; other control characters shown). */
export function plainText(text: string): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters other than \t \n
  return text.replace(ANSI, '').replace(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/g, escapeControl);
}

/**
 * Text escaped for XML 1.0 (element content and attribute values): `& < > " '` as entities,
 * escapes removed as `plainText` does, and what XML 1.0 cannot hold at all (lone surrogates,
 * U+FFFE, U+FFFF) replaced by U+FFFD. In attributes newlines and tabs are kept as `&#10;`/`&#9;`.
 */
export function xmlEscape(text: string, attribute = false): string {
  const out = plainText(text)
    .replace(/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]|[\ufffe\uffff]/g, '\ufffd')
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&apos;');
  return attribute ? out.replace(/\n/g, '&#10;').replace(/\r/g, '&#13;').replace(/\t/g, '&#9;') : out;
}

/** Failures listed per check; the rest are counted. */
export const MAX_LISTED = 5;

/** The first `MAX_LISTED` items as messages (built only for those), then "… and N more". */
export function listed<T>(items: readonly T[], message: (item: T) => string): string[] {
  const out = items.slice(0, MAX_LISTED).map(message);
  if (items.length > MAX_LISTED) out.push(`… and ${items.length - MAX_LISTED} more`);
  return out;
}
