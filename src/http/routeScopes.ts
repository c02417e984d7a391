/**
 * What each route's scope looks like in /docs, and a plugin-wide scope. A route names its scope twice, in
 * its options: the check (`preHandler: needScope('write')`, auth.ts) and the line its description ends with
 * (`description: withScope('write', '…')`). A plugin whose every route needs one scope adds the hook
 * `scopeRoutes('write')` instead, which does both for each route registered after it.
 */
import type { RouteOptions } from 'fastify';
import type { Scope } from '../db/apiKeys.js';
import { needScope } from './auth.js';

/** The sentence that says which scope a route needs, as /docs shows it (a wider scope also does). */
export const scopeNote = (scope: Scope) => `Scope: ${scope}.`;

/** A route description followed by its scope. */
export const withScope = (scope: Scope, description = '') =>
  description ? `${description} ${scopeNote(scope)}` : scopeNote(scope);

/** An onRoute hook: every route of the plugin needs `scope` (checked before its handler) and says so. */
export const scopeRoutes = (scope: Scope) => (route: RouteOptions) => {
  const check = needScope(scope);
  const own = route.preHandler;
  route.preHandler = own === undefined ? [check] : [check, ...(Array.isArray(own) ? own : [own])];
  const description = (route.schema as { description?: string } | undefined)?.description;
  route.schema = { ...route.schema, description: withScope(scope, description) };
};
