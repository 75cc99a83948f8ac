/** @module DNS-rebinding and cross-site protection for drover's local HTTP servers. */
import type { IncomingMessage } from 'node:http';

/**
 * Checks a request against the address a server listens on: its Host must name that address
 * (or localhost) and an Origin, when a browser sends one, must be that same origin. Any web page
 * open on the machine could otherwise POST to a local server ("simple" text/plain requests need
 * no preflight) or reach it through a rebound DNS name.
 * A server bound to a wildcard address (0.0.0.0, ::) accepts any Host but still no foreign Origin.
 * @returns why the request is refused (for a 403), or null when it may proceed
 */
export function originGuard(host: string, port: number): (req: IncomingMessage) => string | null {
  const wildcard = host === '0.0.0.0' || host === '::';
  const names = new Set([host, host.includes(':') && !host.startsWith('[') ? `[${host}]` : host, 'localhost', '127.0.0.1', '[::1]']);
  const hosts = new Set([...names].map((n) => `${n}:${port}`));
  const origins = new Set([...names].map((n) => `http://${n}:${port}`));
  return (req) => {
    const h = req.headers.host ?? '';
    if (!wildcard && !hosts.has(h)) return `host ${JSON.stringify(h)} is not this server (${host}:${port})`;
    const origin = req.headers.origin;
    if (origin !== undefined && !origins.has(origin) && !(wildcard && origin === `http://${h}`)) {
      return `origin ${origin} may not call this server`;
    }
    return null;
  };
}
