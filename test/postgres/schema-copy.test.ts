// Schema copy between majors on real servers: a 16.13 blue with a shop application holding every
// kind of object the copy carries; its roles and schema exported and applied on a 17.10 green,
// then from there on an 18.4 one. The oracle is the fingerprint, which lists every user object
// of the catalog on its own (it can see one the exporter forgot); the copied schema is also used:
// defaults, identity, generated columns, triggers, partitions and constraints must work on green.
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import type pg from 'pg';
import { BinaryCatalog } from '../../src/drivers/postgres/binaries.ts';
import { createCluster, destroyCluster } from '../../src/drivers/postgres/cluster.ts';
import {
  applyStatements,
  createDatabaseStatement,
  exportRoles,
  exportSchema,
  fingerprintDiff,
  listDatabases,
  schemaFingerprint,
  uncopyable,
} from '../../src/drivers/postgres/schema-copy.ts';
import { connect, query } from '../../src/drivers/postgres/server.ts';
import { LEGACY_SQL, ROLES_SQL, SHOP_DATA_SQL, SHOP_DATABASE_SQL, SHOP_SQL } from './schema-fixture.ts';

const dir = mkdtempSync(path.join(tmpdir(), 'liftgate-pg-schema-'));
chmodSync(dir, 0o755);
const catalog = new BinaryCatalog();
const ports = { blue: 0, green17: 0, green18: 0 };

/** run a script (several statements, one implicit transaction) or one statement on `database` */
async function sql<R extends pg.QueryResultRow = pg.QueryResultRow>(
  port: number,
  database: string,
  text: string,
  params: unknown[] = [],
): Promise<R[]> {
  const c = connect(port, database);
  await c.connect();
  try {
    const r = (await c.query(text, params)) as unknown as pg.QueryResult<R> | Array<pg.QueryResult<R>>;
    return Array.isArray(r) ? (r.at(-1)?.rows ?? []) : r.rows;
  } finally {
    await c.end();
  }
}

/** green gets blue's roles, the database, its schema; the data copy would run between pre and post */
async function copy(from: number, to: number, toMajor: number): Promise<void> {
  await applyStatements(to, 'postgres', await exportRoles(from));
  const exported = await exportSchema(from, 'shop', { toMajor });
  assert.deepEqual(exported.problems, []);
  await query(to, await createDatabaseStatement(from, 'shop'));
  await applyStatements(to, 'shop', exported.pre);
  await applyStatements(to, 'shop', exported.post);
  for (const m of exported.matviews) await sql(to, 'shop', `REFRESH MATERIALIZED VIEW ${m}`);
}

before(async () => {
  const made = await Promise.all(
    (
      [
        ['blue', '16.13'],
        ['green17', '17.10'],
        ['green18', '18.4'],
      ] as const
    ).map(async ([name, version]) => [name, await createCluster(path.join(dir, name), version, 0, catalog, [name])] as const),
  );
  for (const [name, state] of made) ports[name] = state.nodes[0]!.port;
  await sql(ports.blue, 'postgres', ROLES_SQL);
  await query(ports.blue, 'CREATE DATABASE shop OWNER app_owner');
  await sql(ports.blue, 'postgres', SHOP_DATABASE_SQL);
  await sql(ports.blue, 'shop', SHOP_SQL);
  await sql(ports.blue, 'shop', SHOP_DATA_SQL);
  await query(ports.blue, 'CREATE DATABASE legacy');
});

after(async () => {
  for (const name of ['blue', 'green17', 'green18']) await destroyCluster(path.join(dir, name)).catch(() => undefined);
  rmSync(dir, { recursive: true, force: true });
});

test('listDatabases names the databases to copy, not the templates', async () => {
  assert.deepEqual(await listDatabases(ports.blue), ['legacy', 'postgres', 'shop']);
});

test('roles and schema copied 16.13 -> 17.10 -> 18.4 have the fingerprint of blue', async () => {
  const exported = await exportSchema(ports.blue, 'shop', { toMajor: 17 });
  assert.deepEqual(exported.matviews, ['app.product_sales']);
  // sequences that moved: identity, serial, standalone, one set to 50 not yet called; unused ones are left alone
  assert.deepEqual(exported.post.sort(), [
    "SELECT pg_catalog.setval('app.customers_id_seq', 2, true)",
    "SELECT pg_catalog.setval('app.invoice_no', 1234, true)",
    "SELECT pg_catalog.setval('app.orders_id_seq', 502, true)",
    "SELECT pg_catalog.setval('app.products_id_seq', 2, true)",
    "SELECT pg_catalog.setval('app.scratch_seq', 50, false)",
  ]);
  const roles = await exportRoles(ports.blue);
  assert.ok(!roles.some((s) => /ROLE postgres\b|ROLE pg_/.test(s)), 'neither the bootstrap superuser nor pg_* roles');

  await copy(ports.blue, ports.green17, 17);
  const blue = await schemaFingerprint(ports.blue, 'shop');
  const green17 = await schemaFingerprint(ports.green17, 'shop');
  assert.deepEqual(fingerprintDiff(blue, green17), []);
  assert.equal(green17.digest, blue.digest);
  // the oracle describes each kind of object, so a missing one would be a difference
  for (const want of [
    /^extension hstore schema=ext owner=app_owner$/,
    /^type app\.order_status e .*labels=\{new,paid,shipped,cancelled\}/,
    /^type app\.money_amount d .*base=numeric\(12,2\) notnull=t default=0/,
    /^type app\.price_range r /,
    /^column app\.customers\.id #1 bigint .*identity=a/,
    /^column app\.products\.search #7 tsvector .*generated=s/,
    /^column app\.settings\.label #2 text collation="C"/,
    /^relation app\.events_default .*bound=DEFAULT/,
    /^relation app\.stock_eu .*bound=FOR VALUES IN \('de', 'fr'\)/,
    /^relation audit\.changes .*replident=f/,
    /^relation app\.orders kind=r .*\+reporting\tSELECT\tfalse\tapp_ro/,
    /^constraint order_lines_order_id_fkey on app\.order_lines f .*ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED/,
    /^constraint orders_recent on app\.orders c .*NOT VALID/,
    /^index app\.products_title_trgm CREATE INDEX .* USING gin \(title public\.gin_trgm_ops\)/,
    /^index app\.orders_open CREATE INDEX .* WHERE /,
    /^index app\.events_2026_h1_kind_idx /,
    /^view app\.open_order_emails /,
    /^view app\.product_sales /,
    /^function app\.order_total\(bigint\) kind=f owner=app_owner /,
    /^trigger orders_noop on app\.orders enabled=D /,
    /^trigger events_audit on app\.events_2024 enabled=O /,
    /^policy customers_own on app\.customers /,
    /^statistics app\.orders_stats /,
    /^sequence app\.invoice_no integer start=1000 inc=5 /,
    /^comment table column app\.orders\.total: "in EUR"/,
    /^default privileges for role app_owner in schema app on tables /,
    /^database shop .*owner=app_owner .*-PUBLIC\tCONNECT/,
    /^setting database role=app_ro work_mem=16MB/,
    /^role app_rw .*login=t .*connlimit=20 /,
    /^membership app_ro member=app_rw grantor=postgres admin=t inherit=f set=t/,
    /^setting role=app_ro search_path=app, public/,
  ]) {
    assert.ok(
      blue.lines.some((l) => want.test(l)),
      `no line matches ${want}`,
    );
  }

  await copy(ports.green17, ports.green18, 18);
  const green18 = await schemaFingerprint(ports.green18, 'shop');
  assert.deepEqual(fingerprintDiff(blue, green18), []);
});

test('the copied schema works on green: defaults, identity, generated columns, triggers, partitions, constraints', async () => {
  const g = ports.green17;
  const [customer] = await sql(
    g,
    'shop',
    `INSERT INTO app.customers (email, name) VALUES ('c@example.com', 'Cy') RETURNING id, region`,
  );
  // identity continues after blue's rows (post set the sequence); the default calls a copied function
  assert.deepEqual(customer, { id: '3', region: 'us' });
  const [product] = await sql(
    g,
    'shop',
    `INSERT INTO app.products (sku, title, description, price) VALUES ('SKU-3', 'Red mug', 'a big red mug', 7) RETURNING id, search::text`,
  );
  assert.equal(product!.id, 3);
  assert.match(product!.search as string, /'mug'.*'red'/);
  const [order] = await sql(
    g,
    'shop',
    `INSERT INTO app.orders (customer_id, total) VALUES (3, 7) RETURNING id, invoice_no, status`,
  );
  assert.deepEqual(order, { id: '503', invoice_no: 1239, status: 'new' });
  const [audit] = await sql(
    g,
    'shop',
    `SELECT count(*)::int AS n FROM audit.log WHERE action = 'INSERT' AND detail->>'id' = '503'`,
  );
  assert.equal(audit!.n, 2, 'orders_audit and the deferred constraint trigger orders_check each wrote one row');
  const [updated] = await sql(
    g,
    'shop',
    `UPDATE app.orders SET total = 8 WHERE id = 503 RETURNING updated_at IS NOT NULL AS touched`,
  );
  assert.equal(updated!.touched, true);
  await sql(g, 'shop', `INSERT INTO app.order_lines VALUES (503, 1, 3, 2)`);
  const [total] = await sql(g, 'shop', `SELECT app.order_total(503)::text AS t`);
  assert.equal(total!.t, '14.00');

  const [next] = await sql(g, 'shop', `SELECT nextval('app.scratch_seq')::int AS v`);
  assert.equal(next!.v, 50);

  const [stock] = await sql(
    g,
    'shop',
    `INSERT INTO app.stock (product_id, region) VALUES (3, 'jp') RETURNING tableoid::regclass::text AS part, qty`,
  );
  assert.deepEqual(stock, { part: 'app.stock_other', qty: 0 });
  const [event] = await sql(
    g,
    'shop',
    `INSERT INTO app.events (occurred_at, kind) VALUES ('2026-08-01 00:00:00+00', 'click') RETURNING id, tableoid::regclass::text AS part`,
  );
  assert.deepEqual(event, { id: '1', part: 'app.events_2026_h2' });

  await assert.rejects(sql(g, 'shop', `INSERT INTO app.products (sku, title) VALUES ('lower', 'x')`), /products_sku_normal/);
  await assert.rejects(sql(g, 'shop', `INSERT INTO app.customers (email, name) VALUES ('nope', 'x')`), /email_check/);
  await assert.rejects(sql(g, 'shop', `INSERT INTO app.order_lines VALUES (999, 1, 3, 1)`), /order_lines_order_id_fkey/);
  await assert.rejects(
    sql(g, 'shop', `INSERT INTO app.promotions VALUES (1, '[2026-01-01,2026-02-01)'), (2, '[2026-01-15,2026-03-01)')`),
    /promotions_during_excl/,
  );
  // row-level security: app_ro sees only the customer whose email is its name
  const [visible] = await sql(g, 'shop', `SET ROLE app_ro; SELECT count(*)::int AS n FROM app.customers`);
  assert.equal(visible!.n, 0);
  const [sales] = await sql(
    g,
    'shop',
    `REFRESH MATERIALIZED VIEW app.product_sales; SELECT qty::int FROM app.product_sales WHERE id = 3`,
  );
  assert.equal(sales!.qty, 2);
  // ON DELETE CASCADE through orders to order_lines
  await sql(g, 'shop', `DELETE FROM app.customers WHERE id = 3`);
  const [left] = await sql(
    g,
    'shop',
    `SELECT (SELECT count(*) FROM app.orders WHERE id = 503)::int AS o, (SELECT count(*) FROM app.order_lines WHERE order_id = 503)::int AS l`,
  );
  assert.deepEqual(left, { o: 0, l: 0 });

  // rows differ from blue's now, the schema does not
  const blue = await schemaFingerprint(ports.blue, 'shop');
  assert.equal((await schemaFingerprint(g, 'shop')).digest, blue.digest);
});

test('the fingerprint ignores data and sees a missing, extra or changed object', async () => {
  const g = ports.green18;
  const blue = await schemaFingerprint(ports.blue, 'shop');
  const diffAfter = async (change: string, undo: string): Promise<string[]> => {
    await sql(g, 'shop', change);
    const d = fingerprintDiff(blue, await schemaFingerprint(g, 'shop'));
    await sql(g, 'shop', undo);
    return d;
  };

  await sql(g, 'shop', `INSERT INTO audit.changes VALUES (1, 'a'), (2, 'b'); SELECT nextval('app.invoice_no')`);
  assert.equal((await schemaFingerprint(g, 'shop')).digest, blue.digest, 'rows and sequence values are not schema');

  const extra = await diffAfter('CREATE INDEX orders_placed ON app.orders (placed_at)', 'DROP INDEX app.orders_placed');
  assert.ok(extra.includes('+ only on green: object index app.orders_placed'), extra.join('\n'));
  assert.ok(extra.some((l) => l.startsWith('+ only on green: index app.orders_placed CREATE INDEX orders_placed ON app.orders')));
  assert.ok(
    extra.every((l) => l.includes('orders_placed')),
    extra.join('\n'),
  );

  const column = await diffAfter('ALTER TABLE audit.changes DROP COLUMN note', 'ALTER TABLE audit.changes ADD COLUMN note text');
  assert.ok(
    column.some((l) => l.startsWith('- only on blue: column audit.changes.note #2 text')),
    column.join('\n'),
  );

  const check = await diffAfter(
    'ALTER TABLE app.order_lines DROP CONSTRAINT order_lines_qty_check',
    'ALTER TABLE app.order_lines ADD CONSTRAINT order_lines_qty_check CHECK (qty > 0)',
  );
  assert.ok(
    check.includes('- only on blue: constraint order_lines_qty_check on app.order_lines c CHECK ((qty > 0))'),
    check.join('\n'),
  );

  const grant = await diffAfter(
    'REVOKE SELECT ON app.open_orders FROM reporting',
    'GRANT SELECT ON app.open_orders TO reporting WITH GRANT OPTION',
  );
  assert.ok(
    grant.some((l) => l.startsWith('- only on blue: relation app.open_orders kind=v')),
    grant.join('\n'),
  );

  const view = await diffAfter(
    `CREATE OR REPLACE VIEW app.open_order_emails WITH (security_barrier) AS SELECT DISTINCT email FROM app.open_orders WHERE total > 0`,
    `CREATE OR REPLACE VIEW app.open_order_emails WITH (security_barrier) AS SELECT DISTINCT email FROM app.open_orders`,
  );
  assert.ok(
    view.some((l) => l.startsWith('+ only on green: view app.open_order_emails')),
    view.join('\n'),
  );

  // every change was undone: the same schema again (a dropped and re-added column is in the same place)
  assert.deepEqual(fingerprintDiff(blue, await schemaFingerprint(g, 'shop')), []);
});

test('objects the copy cannot carry are each reported, naming the object', async () => {
  const b = ports.blue;
  await sql(b, 'legacy', LEGACY_SQL);
  const [lo] = await sql(b, 'legacy', 'SELECT lo_create(0)::int AS oid');
  const problems = await uncopyable(b, 'legacy', { toMajor: 17 });
  assert.deepEqual(
    problems.map((p) => `${p.kind}: ${p.object}`),
    [
      'aggregate: public.text_concat(text)',
      'cast: (integer AS public.mood)',
      'collation: public.my_c',
      'column order: public.readings_2020',
      'event trigger: note_ddl',
      'extension: adminpack',
      'foreign server: remote',
      'foreign table: public.remote_items',
      'foreign-data wrapper: dummy_fdw',
      `large object: large object ${lo!.oid}`,
      'operator: public.~~~(integer, integer)',
      'publication: app_pub',
      'rule: no_delete on public.audit_log',
      'text search configuration: public.my_english',
      'trigger: always_bump on public.counters',
      'type: public.shell_t',
      'typed table: public.typed_tbl',
      'unlogged table: public.scratch',
    ],
  );
  assert.ok(problems.every((p) => p.reason.length > 20));
  assert.match(problems.find((p) => p.kind === 'extension')!.reason, /not available in the PostgreSQL 17 binaries/);
  // the same list as the export's, and the extension check can use green's own list instead
  assert.deepEqual((await exportSchema(b, 'legacy', { toMajor: 17 })).problems, problems);
  const againstGreen = await uncopyable(b, 'legacy', { availableExtensions: ['plpgsql'] });
  assert.ok(againstGreen.some((p) => p.kind === 'extension' && p.object === 'adminpack' && /on green/.test(p.reason)));
  // the shop database has none, and the 'liftgate_' publication (the upgrade's own) is not one
  assert.deepEqual(await uncopyable(b, 'shop', { toMajor: 17 }), []);
});
