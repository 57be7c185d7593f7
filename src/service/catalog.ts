import { AppError } from '../domain/errors.ts';
import type { CatalogVersion } from '../domain/types.ts';
import { compareVersions, crossEngineFrom, isValidVersion } from '../domain/versions.ts';
import { now } from '../domain/clock.ts';
import { toCatalogVersion } from '../store/mappers.ts';
import type { AppContext } from './app-context.ts';
import { isUniqueViolation } from './db-errors.ts';

export interface CatalogInput {
  version: string;
  release?: string;
  imageId?: string;
  displayName?: string;
  description?: string;
  priority?: number;
  upgradableFrom?: string[];
  barrier?: boolean;
  deprecated?: boolean;
}

export async function addCatalogVersion(ctx: AppContext, engine: string, v: CatalogInput): Promise<CatalogVersion> {
  // a pattern may name another engine ("redis:7.0.*"): a route across engines
  for (const x of [
    v.version,
    ...(v.upgradableFrom ?? []).map((p) => p.replace(/^[a-z0-9][a-z0-9._-]{0,31}:/, '').replace(/\*$/, '0')),
  ]) {
    if (!isValidVersion(x)) throw new AppError('INVALID_VERSION', `"${x}" is not a version (digits, letters and . - _ +)`);
  }
  const row = {
    engine,
    version: v.version,
    release: v.release ?? '',
    image_id: v.imageId ?? `${engine}-${v.version}`,
    display_name: v.displayName ?? v.version,
    description: v.description ?? '',
    priority: v.priority ?? 0,
    upgradable_from: JSON.stringify(v.upgradableFrom ?? []),
    barrier: v.barrier ? 1 : 0,
    deprecated: v.deprecated ? 1 : 0,
    created_at: now(),
  };
  try {
    await ctx.store.db.insertInto('catalog_versions').values(row).execute();
  } catch (err) {
    if (isUniqueViolation(err)) throw new AppError('VERSION_EXISTS', `${engine} ${v.version} is already in the catalog`);
    throw err;
  }
  return toCatalogVersion(row);
}

/**
 * Adds the versions the installed drivers can run (e.g. every PostgreSQL whose binaries are
 * installed) to the catalog when missing, so what a driver can upgrade to is always upgradable
 * through the API. Existing entries are left as they are: an operator may have edited them.
 * Returns the versions added.
 */
export async function registerDriverVersions(ctx: AppContext): Promise<string[]> {
  const added: string[] = [];
  for (const driver of ctx.drivers.values()) {
    for (const e of driver.catalogEntries?.() ?? []) {
      const found = await findCatalogVersion(ctx, e.engine, { version: e.version });
      if (found) {
        if (e.supersedesDescription !== undefined && found.description === e.supersedesDescription) {
          await ctx.store.db
            .updateTable('catalog_versions')
            .set({ description: e.description ?? '', upgradable_from: JSON.stringify(e.upgradableFrom ?? []) })
            .where('engine', '=', e.engine)
            .where('version', '=', e.version)
            .where('description', '=', e.supersedesDescription)
            .execute();
        }
        continue;
      }
      try {
        const { engine, supersedesDescription: _old, ...input } = e;
        await addCatalogVersion(ctx, engine, input);
        added.push(`${engine} ${e.version}`);
      } catch (err) {
        // another Liftgate replica sharing the store added it first: that is the wanted state
        if (!(err instanceof AppError && err.code === 'VERSION_EXISTS')) throw err;
      }
    }
  }
  return added;
}

export async function listCatalog(ctx: AppContext, engine: string): Promise<CatalogVersion[]> {
  const rows = await ctx.store.db.selectFrom('catalog_versions').selectAll().where('engine', '=', engine).execute();
  return rows.map(toCatalogVersion).sort((a, b) => compareVersions(a.version, b.version));
}

/**
 * The catalog across engines: every entry, or with `fromEngine` the entries of other engines a
 * target of that engine can move to (their upgradableFrom names it, "redis:7.0.*"), so a client
 * learns of routes across engines without knowing the other engines' names.
 */
export async function listCatalogAcross(ctx: AppContext, fromEngine?: string): Promise<CatalogVersion[]> {
  let q = ctx.store.db.selectFrom('catalog_versions').selectAll();
  // a coarse filter in SQL (the JSON text names the engine); crossEngineFrom decides
  if (fromEngine) q = q.where('engine', '!=', fromEngine).where('upgradable_from', 'like', `%"${fromEngine}:%`);
  const rows = (await q.execute()).map(toCatalogVersion);
  return rows
    .filter((v) => !fromEngine || crossEngineFrom(v, fromEngine).length > 0)
    .sort((a, b) => a.engine.localeCompare(b.engine) || compareVersions(a.version, b.version));
}

export async function findCatalogVersion(
  ctx: AppContext,
  engine: string,
  by: { version?: string; imageId?: string },
): Promise<CatalogVersion | null> {
  let q = ctx.store.db.selectFrom('catalog_versions').selectAll().where('engine', '=', engine);
  if (by.version) q = q.where('version', '=', by.version);
  if (by.imageId) q = q.where('image_id', '=', by.imageId);
  const row = await q.executeTakeFirst();
  return row ? toCatalogVersion(row) : null;
}
