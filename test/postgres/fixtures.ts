// Fixtures of the postgres driver tests: a target record for the driver's own unit tests, and a
// build of PostgreSQL that will not start (for the failure and rollback tests through the engine).
import { chmodSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Target } from '../../src/domain/types.ts';
import { BinaryCatalog } from '../../src/drivers/postgres/binaries.ts';

export function makeTarget(id: string, version: string, driverConfig: Record<string, unknown>): Target {
  const now = new Date().toISOString();
  return {
    projectId: 'test',
    id,
    name: id,
    kind: 'cluster',
    engine: 'postgresql',
    version,
    release: version,
    region: 'local',
    driver: 'postgres',
    driverConfig,
    maintenanceWindow: null,
    maintenanceExclusions: [],
    labels: {},
    nodes: [],
    createdAt: now,
    updatedAt: now,
  };
}

/**
 * A build of `version` that will not come back: real lib/ and share/, but a postgres that exits at
 * once. It still answers --version, so precheck cannot tell. Returns its folder, for the driver's
 * `binaries` override.
 */
export function brokenBuild(dir: string, version: string): string {
  const real = new BinaryCatalog().nativeDir(version);
  const broken = path.join(dir, `broken-${version}`);
  mkdirSync(path.join(broken, 'bin'), { recursive: true });
  symlinkSync(path.join(real, 'lib'), path.join(broken, 'lib'));
  symlinkSync(path.join(real, 'share'), path.join(broken, 'share'));
  writeFileSync(
    path.join(broken, 'bin', 'postgres'),
    `#!/bin/sh\nif [ "$1" = "--version" ]; then echo "postgres (PostgreSQL) ${version}"; exit 0; fi\necho "FATAL: injected fault: this build cannot start" >&2\nexit 1\n`,
    { mode: 0o755 },
  );
  chmodSync(broken, 0o755);
  return broken;
}
