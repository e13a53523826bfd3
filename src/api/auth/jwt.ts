// JWT verification with jose: the algorithm pinned to the configured one (no "alg" chosen by the
// token), `exp` required with zero leeway, issuer and audience checked when configured. The key
// comes from a PEM file (SPKI) read once at start, or from a JWKS URL fetched and cached by jose.
import crypto from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createRemoteJWKSet, errors as joseErrors, importSPKI, jwtVerify, type CryptoKey, type JWTPayload, type JWTVerifyGetKey } from 'jose';
import { ROLES, type JwtConfig, type Role } from '../../config/sections/auth.js';
import { AuthFailure, ROLE_RANK } from './types.js';

/** RSA below this is breakable by a determined attacker (NIST SP 800-131A). */
const MIN_RSA_BITS = 2048;
/** a JWKS endpoint that does not answer within this is treated as down for that request */
const JWKS_TIMEOUT_MS = 5000;

export type JwtKey = CryptoKey | JWTVerifyGetKey;

export async function loadJwtKey(cfg: JwtConfig): Promise<JwtKey> {
  if (cfg.jwks_url !== undefined) {
    return createRemoteJWKSet(new URL(cfg.jwks_url), {
      cacheMaxAge: cfg.jwks_cache_ttl_seconds * 1000,
      timeoutDuration: JWKS_TIMEOUT_MS,
      // an unknown kid triggers a refetch, but not more often than this
      cooldownDuration: 30_000,
    });
  }
  const file = cfg.public_key_path as string;
  let pem: string;
  try {
    pem = await readFile(file, 'utf8');
  } catch (err) {
    throw new Error(`auth.jwt.public_key_path: cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { cause: err });
  }
  let details: crypto.KeyObject;
  try {
    details = crypto.createPublicKey(pem);
  } catch (err) {
    throw new Error(`auth.jwt.public_key_path: ${file} is not a PEM public key: ${(err as Error).message}`, { cause: err });
  }
  const want = cfg.algorithm === 'RS256' ? 'rsa' : 'ed25519';
  if (details.asymmetricKeyType !== want) {
    throw new Error(`auth.jwt.public_key_path: ${file} holds a ${details.asymmetricKeyType ?? 'unknown'} key but auth.jwt.algorithm is ${cfg.algorithm} (needs ${want})`);
  }
  const bits = details.asymmetricKeyDetails?.modulusLength;
  if (want === 'rsa' && (bits === undefined || bits < MIN_RSA_BITS)) {
    throw new Error(`auth.jwt.public_key_path: ${file} is a ${bits ?? '?'}-bit RSA key; at least ${MIN_RSA_BITS} bits are required`);
  }
  return importSPKI(pem, cfg.algorithm);
}

export interface JwtIdentity {
  name: string;
  role: Role;
}

/** Verifies the token and maps its claims to a principal; throws AuthFailure with a reason that
 * is safe to return (never the token). A valid token without a known role gets `role: undefined`
 * so the caller can answer 403 rather than 401. */
export async function verifyJwt(token: string, key: JwtKey, cfg: JwtConfig): Promise<{ name: string; role: Role | undefined }> {
  let payload: JWTPayload;
  try {
    const opts = {
      algorithms: [cfg.algorithm],
      requiredClaims: ['exp'],
      clockTolerance: 0,
      ...(cfg.issuer !== undefined ? { issuer: cfg.issuer } : {}),
      ...(cfg.audience !== undefined ? { audience: cfg.audience } : {}),
    };
    // two overloads (key vs key resolver); the branches only narrow the type
    payload = typeof key === 'function' ? (await jwtVerify(token, key, opts)).payload : (await jwtVerify(token, key, opts)).payload;
  } catch (err) {
    if (err instanceof joseErrors.JWKSTimeout || err instanceof joseErrors.JWKSInvalid || !(err instanceof joseErrors.JOSEError)) {
      throw new AuthFailure(`token not verified: the JWKS endpoint is unavailable (${describeJoseError(err)})`, true);
    }
    throw new AuthFailure(`invalid token: ${describeJoseError(err)}`);
  }
  const name = typeof payload.sub === 'string' && payload.sub !== '' ? payload.sub : undefined;
  if (name === undefined) throw new AuthFailure('invalid token: no "sub" claim');
  return { name, role: roleFromClaim(payload[cfg.role_claim] ?? (cfg.role_claim === 'role' ? payload.roles : undefined)) };
}

/** "admin", or ["viewer", "operator"] (the highest known role wins); anything else: none. */
export function roleFromClaim(v: unknown): Role | undefined {
  const list = typeof v === 'string' ? [v] : Array.isArray(v) ? v : [];
  let best: Role | undefined;
  for (const r of list) {
    if (typeof r !== 'string') continue;
    const role = r.toLowerCase() as Role;
    if (!(ROLES as readonly string[]).includes(role)) continue;
    if (best === undefined || ROLE_RANK[role] > ROLE_RANK[best]) best = role;
  }
  return best;
}

function describeJoseError(err: unknown): string {
  if (err instanceof joseErrors.JWTExpired) return 'expired';
  if (err instanceof joseErrors.JWTClaimValidationFailed) return `claim "${err.claim}" ${err.reason === 'missing' ? 'is missing' : 'check failed'}`;
  if (err instanceof joseErrors.JOSEAlgNotAllowed) return 'algorithm not allowed';
  if (err instanceof joseErrors.JWSSignatureVerificationFailed) return 'signature does not verify';
  if (err instanceof joseErrors.JWKSNoMatchingKey) return 'no matching key in the JWKS';
  if (err instanceof joseErrors.JWKSTimeout) return 'JWKS endpoint timed out';
  if (err instanceof joseErrors.JWSInvalid || err instanceof joseErrors.JWTInvalid) return 'malformed';
  if (err instanceof joseErrors.JWKSInvalid) return 'the JWKS endpoint did not answer a JWK set';
  if (err instanceof joseErrors.JOSEError) return err.code;
  const cause = (err as { cause?: { code?: unknown } }).cause?.code;
  return typeof cause === 'string' ? cause : err instanceof Error ? err.message : 'verification failed';
}
