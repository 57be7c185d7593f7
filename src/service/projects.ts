import { AppError } from '../domain/errors.ts';
import type { Project } from '../domain/types.ts';
import { now } from '../domain/clock.ts';
import { toProject } from '../store/mappers.ts';
import type { AppContext } from './app-context.ts';
import { isUniqueViolation } from './db-errors.ts';

export async function createProject(ctx: AppContext, p: { id: string; name?: string }): Promise<Project> {
  const row = { id: p.id, name: p.name ?? p.id, created_at: now() };
  try {
    await ctx.store.db.insertInto('projects').values(row).execute();
  } catch (err) {
    if (isUniqueViolation(err)) throw new AppError('PROJECT_EXISTS', `project ${p.id} already exists`);
    throw err;
  }
  return toProject(row);
}

export async function listProjects(ctx: AppContext, only?: string[]): Promise<Project[]> {
  let q = ctx.store.db.selectFrom('projects').selectAll().orderBy('id');
  if (only) q = q.where('id', 'in', only.length ? only : ['']);
  return (await q.execute()).map(toProject);
}

export async function getProject(ctx: AppContext, id: string): Promise<Project> {
  const row = await ctx.store.db.selectFrom('projects').selectAll().where('id', '=', id).executeTakeFirst();
  if (!row) throw new AppError('PROJECT_NOT_FOUND', `project ${id} does not exist`);
  return toProject(row);
}
