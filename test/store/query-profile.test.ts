// The statement counter benchmarks read (statements per step): on real stores, every statement a
// unit of work sends is counted, its transaction control too (BEGIN and COMMIT that Kysely issues,
// the group committer's SAVEPOINT and RELEASE), and a failed statement is counted as failed.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { openStore } from '../../src/store/open.ts';
import { countStatements, statementsBetween, statementsRun } from '../../src/store/query-profile.ts';
import { forEachDialect, freshStore } from '../helpers/harness.ts';

countStatements();

forEachDialect('statement counter', (dialect) => {
  test('counts a unit of work with its transaction control, and a failed statement', async () => {
    const config = await freshStore(dialect);
    const store = await openStore(config.config);
    try {
      const before = statementsRun();
      await store.unit.run(async (trx) => {
        await trx.selectFrom('steps').select('id').execute();
        await trx.selectFrom('upgrades').select('id').execute();
      });
      await assert.rejects(
        store.db
          .selectFrom('no_such_table' as never)
          .selectAll()
          .execute(),
      );
      const d = statementsBetween(before, statementsRun());
      // SQLite groups units into one transaction, each in its own savepoint; PostgreSQL runs each alone
      const savepoints = dialect === 'sqlite' ? 2 : 0;
      assert.deepEqual(d, { total: 2 + 2 + savepoints + 1, begin: 1, commit: 1, rollback: 0, savepoint: savepoints, failed: 1 });
    } finally {
      await store.close();
      await config.cleanup();
    }
  });
});
