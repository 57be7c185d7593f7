// The vendor-enum tables of the Alibaba families: every engine state maps onto a documented
// vendor value, and the derived rules (failed step, archived runs, step groups) hold.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ERROR_CATALOGUE, type ErrorCode } from '../../../src/domain/errors.ts';
import { UPGRADE_STATES, type StepState, type UpgradeState } from '../../../src/domain/types.ts';
import { ALIBABA_ERROR_CODES } from '../../../src/http/families/alibaba/errors.ts';
import {
  ackEventReason,
  ackTaskResult,
  ackUpgradeStep,
  hologresDagStatus,
  hologresPhase,
  summariseSteps,
  UPGRADE_STATE_MAP,
} from '../../../src/http/families/alibaba/state-maps.ts';

const ALL_STATES = Object.keys(UPGRADE_STATE_MAP) as UpgradeState[];

test('every upgrade state maps onto the vendors\u2019 documented enums', () => {
  assert.deepEqual([...ALL_STATES].sort(), [...UPGRADE_STATES].sort());
  for (const s of ALL_STATES) {
    const row = UPGRADE_STATE_MAP[s];
    assert.ok(['success', 'fail', 'pause', 'running'].includes(row.ack), s);
    assert.ok(['running', 'Success', 'Failed'].includes(row.ackTask), s);
    assert.ok(['running', 'fail', 'success'].includes(row.ackTaskState), s);
    for (const stage of [0, 3])
      assert.ok(['not_start', 'prechecking', 'upgrading', 'pause', 'success'].includes(ackUpgradeStep(s, stage)), s);
    for (const newest of [true, false])
      assert.ok(['queued', 'running', 'success', 'failed', 'archived'].includes(hologresDagStatus(s, newest)), s);
  }
});

test('the mapping agrees with itself: status, step and task status tell one story', () => {
  assert.deepEqual(
    [UPGRADE_STATE_MAP.succeeded.ack, ackUpgradeStep('succeeded', 5), UPGRADE_STATE_MAP.succeeded.ackTask],
    ['success', 'success', 'Success'],
  );
  assert.deepEqual([UPGRADE_STATE_MAP.paused.ack, ackUpgradeStep('paused', 2)], ['pause', 'pause']);
  assert.equal(ackUpgradeStep('ready', 0), 'not_start');
  assert.equal(ackUpgradeStep('prechecking', 0), 'prechecking');
  // where a failed upgrade stopped
  assert.equal(ackUpgradeStep('failed', 0), 'prechecking');
  assert.equal(ackUpgradeStep('failed', 4), 'upgrading');
  for (const s of ['failed', 'cancelled', 'rolled_back'] as const) assert.equal(UPGRADE_STATE_MAP[s].ack, 'fail');
  // a cancel still bringing nodes back is at work, not ended
  assert.deepEqual(
    [UPGRADE_STATE_MAP.cancelling.ack, ackUpgradeStep('cancelling', 6), hologresDagStatus('cancelling', false)],
    ['running', 'upgrading', 'running'],
  );
});

test('Hologres: only finished runs that are not the newest are archived', () => {
  assert.equal(hologresDagStatus('succeeded', true), 'success');
  assert.equal(hologresDagStatus('succeeded', false), 'archived');
  assert.equal(hologresDagStatus('cancelled', false), 'archived');
  assert.equal(hologresDagStatus('ready', true), 'queued');
  assert.equal(hologresDagStatus('paused', true), 'running');
  assert.equal(hologresPhase('paused', 0), 'Prepare');
  assert.equal(hologresPhase('failed', 3), 'Upgrade');
  assert.equal(hologresPhase('rolled_back', 3), 'Rollback');
});

test('step groups summarise: failure first, then activity, then done', () => {
  const cases: [StepState[], string][] = [
    [[], 'NotStart'],
    [['pending', 'pending'], 'NotStart'],
    [['succeeded', 'pending'], 'Running'],
    [['succeeded', 'running'], 'Running'],
    [['succeeded', 'failed', 'pending'], 'Failed'],
    [['succeeded', 'skipped'], 'Success'],
    [['succeeded', 'cancelled'], 'Cancelled'],
    [['rolling_back'], 'Running'],
  ];
  for (const [states, want] of cases) assert.equal(summariseSteps(states), want, states.join(','));
  assert.equal(ackTaskResult(['succeeded', 'succeeded']), 'success');
  assert.equal(ackTaskResult(['succeeded', 'failed']), 'failed');
  assert.equal(ackTaskResult(['pending']), 'initial');
  assert.equal(ackEventReason('upgrade.rolled_back'), 'UpgradeRolledBack');
});

test('error table: known codes, client mistakes stay 4xx, Alibaba-style names', () => {
  for (const [code, row] of Object.entries(ALIBABA_ERROR_CODES)) {
    assert.ok(code in ERROR_CATALOGUE, code);
    const status = row!.status ?? ERROR_CATALOGUE[code as ErrorCode].status;
    if (code !== 'INTERNAL' && code !== 'PROVISION_FAILED') assert.ok(status >= 400 && status < 500, `${code} -> ${status}`);
    for (const v of [row!.ack, row!.hologres]) assert.match(v, /^[A-Z][A-Za-z]*(\.[A-Z][A-Za-z]*)*$/, v);
  }
  assert.equal(ALIBABA_ERROR_CODES.VERSION_NOT_FOUND?.status, 400);
});
