/**
 * Keys of shared work. The scope (tenant + a digest of the credentials) partitions every
 * primitive; within it a key names the request: method, URL, the headers the route names and,
 * when there is one, a digest of the body.
 */
import { createHash } from 'node:crypto';
import { headerValue, type GatewayRequest } from './http.js';

/** A short digest of some texts, for keys that must not hold credentials in clear. */
export function digest(parts: readonly (string | Buffer | undefined)[]): string {
  const hash = createHash('sha256');
  for (const part of parts) {
    hash.update(part ?? '\u0000');
    hash.update('\u0001');
  }
  return hash.digest('base64url').slice(0, 22);
}

/** The scope of a request: its tenant and a digest of its credential headers. */
export function scopeOf(
  tenant: string | undefined,
  headers: Readonly<Record<string, string | string[] | undefined>>,
  credentials: readonly string[],
): string {
  const values = credentials.map((name) => headerValue(headers, name));
  const anonymous = values.every((value) => value === undefined);
  return `${tenant ?? ''}|${anonymous ? '' : digest(values)}`;
}

/** The key of a request within its scope. */
export function requestKey(request: GatewayRequest, headers: readonly string[]): string {
  let key = `${request.method} ${request.url}`;
  for (const name of headers) key += `\n${name}: ${headerValue(request.headers, name) ?? ''}`;
  if (request.body !== undefined && request.body.length > 0) key += `\n#${digest([request.body])}`;
  return key;
}
