/**
 * Headers that belong to one HTTP connection and are never forwarded by a proxy nor stored
 * (RFC 9110 §7.6.1, plus the de-facto `keep-alive` and `proxy-connection`). Lower-case names.
 */
export const HOP_BY_HOP_HEADERS: ReadonlySet<string> = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
]);
