// How the console and the CLI tell a route across engines and the point of no return: pure
// functions, checked against tables of inputs and the words they must give.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  engineVersion,
  pointOfNoReturnLine,
  pointOfNoReturnText,
  upgradeFrom,
  upgradeTo,
  upgradeVersions,
} from '../../src/domain/engine-labels.ts';
import type { CatalogVersion } from '../../src/domain/types.ts';
import { crossEngineCandidates } from '../../src/domain/versions.ts';

test('versions read with their engine only where an upgrade changes it', () => {
  assert.equal(engineVersion('redis', '7.0.15'), 'redis 7.0.15');
  assert.equal(engineVersion(null, '7.0.15'), '7.0.15');
  const cases: [Parameters<typeof upgradeVersions>[0], string][] = [
    [{ fromEngine: 'redis', toEngine: 'valkey', fromVersion: '7.0.15', toVersion: '8.0.1' }, 'redis 7.0.15 -> valkey 8.0.1'],
    [{ fromEngine: 'redis', toEngine: 'redis', fromVersion: '7.0.15', toVersion: '7.2.4' }, '7.0.15 -> 7.2.4'],
    // an upgrade stored before engines were recorded
    [{ fromEngine: null, toEngine: null, fromVersion: '7.10.2', toVersion: '7.10.3' }, '7.10.2 -> 7.10.3'],
    [{ fromEngine: 'redis', toEngine: null, fromVersion: '7.0.15', toVersion: '7.0.16' }, '7.0.15 -> 7.0.16'],
    [{ fromVersion: '1', toVersion: '2' }, '1 -> 2'],
  ];
  for (const [u, want] of cases) assert.equal(upgradeVersions(u), want, JSON.stringify(u));
  const cross = { fromEngine: 'redis', toEngine: 'valkey', fromVersion: '7.0.15', toVersion: '8.0.1' };
  assert.equal(upgradeVersions(cross, '→'), 'redis 7.0.15 → valkey 8.0.1');
  assert.deepEqual([upgradeFrom(cross), upgradeTo(cross)], ['redis 7.0.15', 'valkey 8.0.1']);
  const same = { ...cross, toEngine: 'redis' };
  assert.deepEqual([upgradeFrom(same), upgradeTo(same)], ['7.0.15', '8.0.1']);
});

test('the point of no return: until which step a rollback is possible, then that it has passed', () => {
  const p = { name: 'Switch over r-1 to r-2', node: 'r-1', reason: 'valkey has written an RDB redis cannot read', passed: false };
  assert.equal(
    pointOfNoReturnText(p),
    'Rollback possible until Switch over r-1 to r-2 (r-1): valkey has written an RDB redis cannot read',
  );
  assert.equal(
    pointOfNoReturnText({ ...p, passed: true }),
    'Past the point of no return: valkey has written an RDB redis cannot read',
  );
  // without the driver's words: the step, and no dangling colon
  assert.equal(pointOfNoReturnText({ ...p, node: null, reason: null }), 'Rollback possible until Switch over r-1 to r-2');
  assert.equal(
    pointOfNoReturnText({ ...p, reason: null, passed: true }),
    'Past the point of no return: Switch over r-1 to r-2 (r-1) cannot be reversed',
  );
  // said while a rollback is still a question: not once the upgrade succeeded or is being reversed
  for (const state of ['running', 'paused', 'failed', 'cancelled'])
    assert.ok(pointOfNoReturnLine({ state, pointOfNoReturn: p }), state);
  for (const state of ['succeeded', 'rolling_back', 'rolled_back'])
    assert.equal(pointOfNoReturnLine({ state, pointOfNoReturn: p }), null);
  assert.equal(pointOfNoReturnLine({ state: 'running', pointOfNoReturn: null }), null);
});

const entry = (engine: string, version: string, extra: Partial<CatalogVersion> = {}): CatalogVersion => ({
  engine,
  version,
  release: '',
  imageId: `${engine}-${version}`,
  displayName: version,
  description: '',
  priority: 0,
  upgradableFrom: [],
  barrier: false,
  deprecated: false,
  createdAt: '2026-01-01T00:00:00Z',
  ...extra,
});

test('the entries of other engines a target can move to: their upgradableFrom names its engine and version', () => {
  const catalog = [
    entry('valkey', '8.0.1', { upgradableFrom: ['redis:7.0.*', '7.2.*'] }),
    entry('valkey', '8.1.0', { upgradableFrom: ['redis:7.2.*'] }),
    entry('valkey', '7.2.8', { upgradableFrom: ['redis:7.0.15'] }),
    entry('valkey', '8.0.0', { upgradableFrom: ['redis:7.0.*'], deprecated: true }),
    entry('keydb', '6.3.4', { upgradableFrom: ['redis:7.0.*'] }),
    // its own engine's entries never count as a route across engines
    entry('redis', '7.2.4', { upgradableFrom: ['redis:7.0.*'] }),
    entry('valkey', '9.0.0', { upgradableFrom: [] }),
  ];
  const of = (from: string) => crossEngineCandidates('redis', from, catalog).map((v) => `${v.engine} ${v.version}`);
  assert.deepEqual(of('7.0.15'), ['keydb 6.3.4', 'valkey 8.0.1', 'valkey 7.2.8']);
  assert.deepEqual(of('7.0.11'), ['keydb 6.3.4', 'valkey 8.0.1']);
  assert.deepEqual(of('7.2.4'), ['valkey 8.1.0']);
  assert.deepEqual(of('6.2.14'), []);
  assert.deepEqual(crossEngineCandidates('valkey', '7.2.8', catalog), []);
});
