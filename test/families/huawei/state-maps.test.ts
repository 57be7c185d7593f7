// The Huawei-style enum tables cover every engine state, map only onto the vendors' enums, and
// the GaussDB status filter inverts its table.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { STEP_STATES, UPGRADE_STATES } from '../../../src/domain/types.ts';
import {
  CSS_STEP_STATUS,
  CSS_TASK_STATUS,
  GAUSS_JOB_STATUS,
  cssTime,
  gaussTime,
  statesForGaussStatus,
} from '../../../src/http/families/huawei/state-maps.ts';

test('CSS task status: every upgrade state, only RUNNING|SUCCESS|FAILED|PARTIAL_FAILED', () => {
  assert.deepEqual(Object.keys(CSS_TASK_STATUS).sort(), [...UPGRADE_STATES].sort());
  for (const s of UPGRADE_STATES) {
    for (const v of Object.values(CSS_TASK_STATUS[s]))
      assert.ok(['RUNNING', 'SUCCESS', 'FAILED', 'PARTIAL_FAILED'].includes(v), `${s} -> ${v}`);
  }
  assert.equal(CSS_TASK_STATUS.failed.someNodesDone, 'PARTIAL_FAILED');
  assert.equal(CSS_TASK_STATUS.failed.noNodeDone, 'FAILED');
  assert.equal(CSS_TASK_STATUS.paused.noNodeDone, 'RUNNING');
  assert.equal(CSS_TASK_STATUS.succeeded.someNodesDone, 'SUCCESS');
  // a cancel still bringing nodes back has not ended
  assert.deepEqual(CSS_TASK_STATUS.cancelling, { noNodeDone: 'RUNNING', someNodesDone: 'RUNNING' });
});

test('CSS step status: every step state, only WAITING|RUNNING|SUCCESS|FAILED', () => {
  assert.deepEqual(Object.keys(CSS_STEP_STATUS).sort(), [...STEP_STATES].sort());
  assert.deepEqual(new Set(Object.values(CSS_STEP_STATUS)), new Set(['WAITING', 'RUNNING', 'SUCCESS', 'FAILED']));
  assert.equal(CSS_STEP_STATUS.pending, 'WAITING');
  assert.equal(CSS_STEP_STATUS.skipped, 'SUCCESS');
});

test('GaussDB job status: every upgrade state, GaussDB words, and the status filter inverts the table', () => {
  assert.deepEqual(Object.keys(GAUSS_JOB_STATUS).sort(), [...UPGRADE_STATES].sort());
  assert.deepEqual(new Set(Object.values(GAUSS_JOB_STATUS)), new Set(['Pending', 'Running', 'Completed', 'Failed', 'Canceled']));
  assert.deepEqual(statesForGaussStatus('Pending'), ['scheduled']);
  assert.deepEqual(statesForGaussStatus('Canceled'), ['cancelled']);
  assert.equal(GAUSS_JOB_STATUS.cancelling, 'Running');
  assert.deepEqual(statesForGaussStatus('Failed').sort(), ['failed', 'rolled_back']);
  assert.deepEqual(statesForGaussStatus('Nonsense'), []);
  for (const s of UPGRADE_STATES) assert.ok(statesForGaussStatus(GAUSS_JOB_STATUS[s]).includes(s));
});

test('vendor time formats', () => {
  assert.equal(cssTime('2023-01-05T02:23:39.123Z'), '2023-01-05T02:23:39');
  assert.equal(cssTime(null), '');
  assert.equal(gaussTime('2018-08-06T10:41:14.000Z'), '2018-08-06T10:41:14+0000');
  assert.equal(gaussTime(undefined), '');
});
