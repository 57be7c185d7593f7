// The pure parts of the OBShell family: the one state/operator mapping table, operator
// parsing, languages, upgradeDir rules, generic ids, and the persisted RSA key.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { STAGE_STATES, STEP_STATES, UPGRADE_STATES, type UpgradeState } from '../../../src/domain/types.ts';
import { actionForOperator, DAG_MAP, DAG_OPERATORS, DAG_STATES } from '../../../src/http/families/obshell/dag-map.ts';
import { langOf, ObshellError, OBSHELL_ERRORS } from '../../../src/http/families/obshell/i18n.ts';
import { KEY_FILE, loadServerCrypto } from '../../../src/http/families/obshell/obshell-auth.ts';
import { checkUpgradeDir } from '../../../src/http/families/obshell/prechecks.ts';
import { genericId, parseGenericId } from '../../../src/http/families/obshell/present.ts';
import type { AppContext } from '../../../src/service/app-context.ts';

describe('OBShell state/operator mapping table', () => {
  it('covers every engine state with an OBShell state', () => {
    assert.deepEqual(Object.keys(DAG_MAP.upgrade).sort(), [...UPGRADE_STATES].sort());
    assert.deepEqual(Object.keys(DAG_MAP.stage).sort(), [...STAGE_STATES].sort());
    assert.deepEqual(Object.keys(DAG_MAP.step).sort(), [...STEP_STATES].sort());
    for (const m of [...Object.values(DAG_MAP.upgrade), ...Object.values(DAG_MAP.stage), ...Object.values(DAG_MAP.step)]) {
      assert.ok(DAG_STATES.includes(m.state));
      assert.ok(m.operator === null || DAG_OPERATORS.includes(m.operator));
    }
  });

  it('maps the upgrade states as OBShell ends its DAGs', () => {
    const show = (s: UpgradeState) => `${DAG_MAP.upgrade[s].state}/${DAG_MAP.upgrade[s].operator ?? '-'}`;
    assert.deepEqual(Object.fromEntries(UPGRADE_STATES.map((s) => [s, show(s)])), {
      scheduled: 'PENDING/-',
      ready: 'READY/-',
      prechecking: 'RUNNING/-',
      running: 'RUNNING/-',
      paused: 'PENDING/-',
      succeeded: 'SUCCEED/-',
      failed: 'FAILED/-',
      cancelling: 'RUNNING/CANCEL',
      cancelled: 'FAILED/CANCEL',
      rolling_back: 'RUNNING/ROLLBACK',
      rolled_back: 'SUCCEED/ROLLBACK',
    });
    assert.deepEqual(DAG_MAP.step.skipped, { state: 'SUCCEED', operator: 'PASS' });
  });

  it('parses operators case-insensitively onto upgrade actions, and back', () => {
    assert.equal(actionForOperator('retry'), 'retry');
    assert.equal(actionForOperator('ROLLBACK'), 'rollback');
    assert.equal(actionForOperator('Cancel'), 'cancel');
    assert.equal(actionForOperator('pass'), 'skip');
    assert.equal(actionForOperator('run'), null, 'RUN is a state of affairs, not an operation');
    assert.equal(actionForOperator('pause'), null);
    for (const [op, action] of Object.entries(DAG_MAP.operatorAction)) assert.equal(DAG_MAP.actionOperator[action], op);
  });
});

describe('OBShell messages and ids', () => {
  it('chooses Chinese for zh* first, English otherwise', () => {
    assert.equal(langOf('zh-CN,zh;q=0.9'), 'zh');
    assert.equal(langOf('zh'), 'zh');
    assert.equal(langOf('en-US,zh;q=0.5'), 'en');
    assert.equal(langOf('en;q=0.1, zh-TW;q=0.8'), 'zh');
    assert.equal(langOf(undefined), 'en');
    const e = new ObshellError('modeNotSupported', ['HOT']);
    assert.equal(e.messageIn('en'), "Upgrade mode 'HOT' is not supported");
    assert.equal(e.messageIn('zh'), "不支持的升级模式 'HOT'");
  });

  it('every code is dotted, every message has both languages with the same placeholders', () => {
    for (const [key, d] of Object.entries(OBSHELL_ERRORS)) {
      assert.match(d.code, /^[A-Z][A-Za-z]*(\.[A-Z][A-Za-z]*)+$/, key);
      assert.equal((d.en.match(/%s/g) ?? []).length, (d.zh.match(/%s/g) ?? []).length, key);
      assert.ok(d.status >= 400 && d.status < 600, key);
    }
  });

  it('checks upgradeDir like OBShell, refusing any ".." segment', () => {
    for (const ok of ['', '/data/upgrade', '/home/admin/升级', '/a/b.c/d-e_f:g@h'])
      assert.doesNotThrow(() => checkUpgradeDir(ok), ok);
    for (const bad of ['data', './x', '/a b', '/a;rm', '/a/../b', '/..', '/a/..']) {
      assert.throws(
        () => checkUpgradeDir(bad),
        (e: unknown) => e instanceof ObshellError && e.def.code === 'Common.InvalidPath',
        bad,
      );
    }
  });

  it('round-trips generic ids and refuses malformed ones', () => {
    assert.equal(genericId('upgrade', 2), '12');
    assert.deepEqual(parseGenericId('12'), { kind: 'upgrade', n: 2 });
    assert.deepEqual(parseGenericId('27'), { kind: 'check', n: 7 });
    for (const bad of ['1', '10', '3123', 'abc', '1-2', '1' + '9'.repeat(20)]) {
      assert.throws(
        () => parseGenericId(bad),
        (e: unknown) => e instanceof ObshellError && e.def.code === 'Task.GenericID.Invalid',
        bad,
      );
    }
  });
});

describe('OBShell RSA key persistence', () => {
  it('creates the key once (mode 0600) and keeps it across restarts', () => {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'liftgate-obshell-key-'));
    try {
      const ctx = { config: { dataDir } } as unknown as AppContext;
      const first = loadServerCrypto(ctx);
      const file = path.join(dataDir, KEY_FILE);
      assert.equal(fs.statSync(file).mode & 0o777, 0o600);
      const second = loadServerCrypto(ctx);
      assert.equal(second.publicKeyBase64(), first.publicKeyBase64());
    } finally {
      fs.rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
