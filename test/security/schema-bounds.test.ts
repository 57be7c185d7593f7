// Every integer a route accepts, in its path, query or body, has a minimum and a maximum in its
// schema (issue 8 item 3): an unbounded one reaches the store as 1e20 and fails there. Read from
// the OpenAPI document, which is generated from the same schemas the routes validate with.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startApp, type TestApp } from '../helpers/harness.ts';

type Schema = Record<string, unknown>;

function unbounded(schema: unknown, where: string, out: string[]): void {
  if (schema === null || typeof schema !== 'object') return;
  const s = schema as Schema;
  const types = Array.isArray(s.type) ? s.type : [s.type];
  if (types.includes('integer') || types.includes('number')) {
    const low = s.minimum !== undefined || s.exclusiveMinimum !== undefined;
    const high = s.maximum !== undefined || s.exclusiveMaximum !== undefined;
    if (!low || !high) out.push(where);
  }
  for (const [k, v] of Object.entries(s)) {
    if (k === 'properties' && v && typeof v === 'object') {
      for (const [name, sub] of Object.entries(v)) unbounded(sub, `${where}.${name}`, out);
    } else if (['items', 'additionalProperties', 'anyOf', 'oneOf', 'allOf', 'not'].includes(k)) {
      if (Array.isArray(v)) v.forEach((sub, i) => unbounded(sub, `${where}[${i}]`, out));
      else unbounded(v, `${where}.${k}`, out);
    }
  }
}

describe('schema bounds', () => {
  let t: TestApp;
  before(async () => {
    t = await startApp('sqlite');
  });
  after(() => t.close());

  it('every integer of every route has a minimum and a maximum', () => {
    const doc = t.app.swagger() as { paths: Record<string, Record<string, any>> };
    const found: string[] = [];
    let operations = 0;
    for (const [path, ops] of Object.entries(doc.paths)) {
      for (const [method, op] of Object.entries(ops)) {
        operations++;
        for (const p of op.parameters ?? []) unbounded(p.schema, `${method.toUpperCase()} ${path} ${p.in}.${p.name}`, found);
        for (const c of Object.values(op.requestBody?.content ?? {}) as { schema?: unknown }[])
          unbounded(c.schema, `${method.toUpperCase()} ${path} body`, found);
      }
    }
    assert.ok(operations > 30, `the OpenAPI document lists the routes (${operations})`);
    assert.deepEqual(found, []);
  });

  it('the check finds an unbounded integer (its oracle can fail)', () => {
    const found: string[] = [];
    unbounded({ type: 'object', properties: { offset: { type: 'integer', minimum: 0 } } }, 'q', found);
    assert.deepEqual(found, ['q.offset']);
  });
});
