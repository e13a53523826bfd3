// What authentication hands to the rest of the API: the caller's identity and role.
import type { Role } from '../../config/sections/auth.js';

export type { Role } from '../../config/sections/auth.js';

export type AuthVia = 'api_key' | 'jwt' | 'socket' | 'none';

export interface Principal {
  /** API key name, JWT `sub`, "local-socket" for a caller on the API socket, or "anonymous"
   * when auth is disabled */
  name: string;
  role: Role;
  via: AuthVia;
}

declare module 'fastify' {
  interface FastifyRequest {
    /** set by the auth onRequest hook before any handler runs */
    principal: Principal;
  }
}

/** viewer < operator < admin */
export const ROLE_RANK: Readonly<Record<Role, number>> = { viewer: 1, operator: 2, admin: 3 };

/** An authentication failure: the hook turns it into a 401. `message` is safe to show. */
export class AuthFailure extends Error {
  override name = 'AuthFailure';
  constructor(
    message: string,
    /** the fault is ours (JWKS endpoint down), not the caller's: logged as a warning */
    readonly keySourceDown = false,
  ) {
    super(message);
  }
}

/** What a route declares in `config.minRole`: the least role that may call it, or public. */
export type MinRole = 'public' | Role;
export const MIN_ROLE_VALUES: readonly MinRole[] = ['public', 'viewer', 'operator', 'admin'];

declare module 'fastify' {
  interface FastifyContextConfig {
    minRole?: 'public' | 'viewer' | 'operator' | 'admin';
  }
}
