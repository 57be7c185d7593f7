// Roles of tokens and access keys, and the one rule that says which role a request needs.
//   viewer   reads (every GET/HEAD)
//   operator upgrade actions: start, control and precheck upgrades, inject sim faults
//   admin    credentials and targets: create/change/delete targets, mint/list/revoke tokens and
//            access keys, set OBShell passwords
// A project credential holds one role inside its project. The bootstrap admin token
// (projectId null) is an admin of every project and the only one that may create projects and
// catalog versions. A credential can only mint credentials of its own role or lower.
import { AppError } from '../domain/errors.ts';
import { ROLES, type Role } from '../domain/types.ts';

export { ROLES, type Role };

const RANK: Record<Role, number> = { viewer: 0, operator: 1, admin: 2 };

export const isRole = (v: unknown): v is Role => typeof v === 'string' && (ROLES as readonly string[]).includes(v);

/** A stored role; anything unexpected counts as the least privilege. */
export const roleOf = (v: unknown): Role => (isRole(v) ? v : 'viewer');

export const roleAtLeast = (have: Role, need: Role): boolean => RANK[have] >= RANK[need];

/**
 * The role a route needs: what its config says (`config: { role: 'admin' }`), else `viewer` for
 * reads and `operator` for anything that changes state. Families and the native API share it.
 */
export function requiredRole(method: string, routeConfig: unknown): Role {
  const declared = (routeConfig as { role?: unknown } | undefined)?.role;
  if (isRole(declared)) return declared;
  return method === 'GET' || method === 'HEAD' ? 'viewer' : 'operator';
}

export function assertRole(have: Role, need: Role, what = 'this operation'): void {
  if (!roleAtLeast(have, need)) {
    throw new AppError('FORBIDDEN', `${what} needs the ${need} role; this credential has ${have}`, { have, need });
  }
}

/** A credential may grant only what it holds. */
export function assertCanGrant(have: Role, grant: Role): void {
  if (!roleAtLeast(have, grant)) {
    throw new AppError('FORBIDDEN', `a ${have} credential cannot create a ${grant} credential (only ${have} or lower)`, {
      have,
      grant,
    });
  }
}
