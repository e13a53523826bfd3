// Who may call what. Every route states the least role it needs in its options
// (`config: { minRole }`); authentication (src/api/auth) enforces it. This module adds what the
// API itself does with the declaration: refuse a route that forgot it, and write the role and
// the security requirement into the route's OpenAPI entry so the document says who may call it.
import type { FastifyInstance, RouteOptions } from 'fastify';
import { MIN_ROLE_VALUES, type MinRole } from './auth/types.js';

const MIN_ROLES = MIN_ROLE_VALUES;
export type { MinRole };

/** Routes registered by plugins we do not write (Swagger UI's pages and assets) are public. */
const PUBLIC_PREFIXES = ['/docs'];

function isPublicPluginRoute(url: string): boolean {
  return PUBLIC_PREFIXES.some((p) => url === p || url.startsWith(`${p}/`));
}

function minRoleOf(route: Pick<RouteOptions, 'config'>): MinRole | undefined {
  const c = route.config as { minRole?: unknown } | undefined;
  const r = c?.minRole;
  return typeof r === 'string' && (MIN_ROLES as readonly string[]).includes(r) ? (r as MinRole) : undefined;
}

/** Must run before the OpenAPI generator and auth register their own onRoute hooks. */
export function installRouteRoles(app: FastifyInstance): void {
  app.addHook('onRoute', (route) => {
    if (minRoleOf(route) === undefined && isPublicPluginRoute(route.url)) {
      route.config = { ...(route.config ?? {}), minRole: 'public' };
    }
    const role = minRoleOf(route);
    if (role === undefined) {
      throw new Error(`route ${String(route.method)} ${route.url} declares no config.minRole (one of ${MIN_ROLES.join(', ')})`);
    }
    if (!route.schema) return;
    const schema = route.schema as Record<string, unknown>;
    schema['x-min-role'] = role;
    if (role !== 'public') schema.security = [{ bearer: [] }, { apiKey: [] }];
    else schema.security = [];
  });
}
