// Where a credential comes from: `Authorization: Bearer <jwt|key>` or `X-API-Key: <key>`.
import type { IncomingHttpHeaders } from 'node:http';
import { AuthFailure } from './types.js';

export type Credential = { kind: 'bearer'; value: string; looksLikeJwt: boolean } | { kind: 'api_key'; value: string };

/** three base64url parts: header.payload.signature */
const JWT_SHAPE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;

/** undefined when the request carries no credential; AuthFailure when it carries a broken one. */
export function credentialOf(headers: IncomingHttpHeaders): Credential | undefined {
  const auth = headers.authorization;
  if (auth !== undefined && auth !== '') {
    const m = /^(\S+)\s+(\S+)\s*$/.exec(auth);
    if (!m || (m[1] as string).toLowerCase() !== 'bearer') throw new AuthFailure('the Authorization header must be "Bearer <token or API key>"');
    const value = m[2] as string;
    return { kind: 'bearer', value, looksLikeJwt: JWT_SHAPE.test(value) };
  }
  const key = headers['x-api-key'];
  if (Array.isArray(key)) throw new AuthFailure('more than one X-API-Key header');
  if (key !== undefined && key !== '') return { kind: 'api_key', value: key.trim() };
  return undefined;
}
