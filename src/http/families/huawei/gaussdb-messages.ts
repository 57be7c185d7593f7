// GaussDB error bodies {error_code, error_msg}, with error_msg in the language X-Language asks for
// (en-us, the default, or zh-cn). The whole message catalogue, both languages, lives in this file;
// codes are GaussDB's DBS.* codes. Authentication failures come from the API gateway layer and
// stay in English, as Huawei's gateway sends them.
import type { ErrorCode } from '../../../domain/errors.ts';
import { BatchRefusedError, type BatchProblem } from '../../../service/batches.ts';
import type { ErrorMeta, RenderedError } from '../../error-render.ts';
import { errorInfo } from '../../errors.ts';
import { HuaweiGatewayError } from './huawei-auth.ts';

export type Language = 'en-us' | 'zh-cn';

export function languageOf(header: unknown): Language {
  return typeof header === 'string' && header.trim().toLowerCase() === 'zh-cn' ? 'zh-cn' : 'en-us';
}

type Text = Record<Language, string>;

export const MESSAGES = {
  parameterError: { 'en-us': 'Parameter error.', 'zh-cn': '参数错误。' },
  instanceNotFound: { 'en-us': 'The DB instance does not exist.', 'zh-cn': '实例不存在。' },
  projectNotFound: { 'en-us': 'The project does not exist.', 'zh-cn': '项目不存在。' },
  jobNotFound: { 'en-us': 'The job does not exist.', 'zh-cn': '任务不存在。' },
  conflict: { 'en-us': 'The instance status does not allow this operation now.', 'zh-cn': '当前实例状态不允许执行该操作。' },
  unauthorized: { 'en-us': 'Authentication failed.', 'zh-cn': '认证失败。' },
  forbidden: { 'en-us': 'The credential is not authorized for this operation.', 'zh-cn': '当前凭证无权执行该操作。' },
  serverError: { 'en-us': 'Server error.', 'zh-cn': '服务器内部错误。' },
  throttled: { 'en-us': 'The throttling threshold has been reached.', 'zh-cn': '请求超过流控阈值。' },
  batchRefused: {
    'en-us': 'The upgrade was refused and nothing was scheduled. Instances that cannot be upgraded: ',
    'zh-cn': '升级请求被拒绝,未下发任何任务。以下实例无法升级:',
  },
} satisfies Record<string, Text>;

/** One reason an instance of a batch is refused, in both languages. */
export function problemText(p: BatchProblem, lang: Language): string {
  const en = lang === 'en-us';
  switch (p.kind) {
    case 'not_found':
      return en ? `${p.instanceId} (the instance does not exist)` : `${p.instanceId}(实例不存在)`;
    case 'duplicate':
      return en ? `${p.instanceId} (listed more than once)` : `${p.instanceId}(重复指定)`;
    case 'version_mismatch':
      return en
        ? `${p.instanceId} (current_version ${p.given} does not match the instance version ${p.actual})`
        : `${p.instanceId}(current_version ${p.given} 与实例当前版本 ${p.actual} 不一致)`;
    case 'no_newer_minor':
      return en ? `${p.instanceId} (no newer minor version than ${p.actual})` : `${p.instanceId}(没有高于 ${p.actual} 的小版本)`;
    case 'busy':
      return en
        ? `${p.instanceId} (another upgrade ${p.upgradeId} is in progress)`
        : `${p.instanceId}(已有升级任务 ${p.upgradeId} 在进行中)`;
    case 'no_window':
      return en
        ? `${p.instanceId} (no maintenance window is set for a delayed upgrade)`
        : `${p.instanceId}(未设置可维护时间段,无法延迟升级)`;
  }
}

type MessageKey = keyof typeof MESSAGES;

/** The product's error catalogue -> GaussDB status, code and message. */
const GAUSS_ERRORS: Partial<Record<ErrorCode, { status: number; code: string; key: MessageKey }>> = {
  TARGET_NOT_FOUND: { status: 404, code: 'DBS.200022', key: 'instanceNotFound' },
  PROJECT_NOT_FOUND: { status: 404, code: 'DBS.200022', key: 'projectNotFound' },
  UPGRADE_NOT_FOUND: { status: 404, code: 'DBS.200001', key: 'jobNotFound' },
  TARGET_BUSY: { status: 403, code: 'DBS.200011', key: 'conflict' },
  TARGET_HAS_UPGRADES: { status: 403, code: 'DBS.200011', key: 'conflict' },
  INVALID_STATE: { status: 403, code: 'DBS.200011', key: 'conflict' },
  UNAUTHORIZED: { status: 401, code: 'APIG.0301', key: 'unauthorized' },
  // the gateway's "not authorized to access the API": the credential's role is too low
  FORBIDDEN: { status: 403, code: 'APIG.0302', key: 'forbidden' },
  // Huawei's API gateway answers throttled calls itself, with its own code.
  RATE_LIMITED: { status: 429, code: 'APIGW.0308', key: 'throttled' },
};

/** Statuses of the HTTP layer that keep their meaning in GaussDB's envelope (not folded into 400). */
const KEPT_STATUSES = new Set([404, 408, 413, 414, 415, 431]);

export function gaussError(err: unknown, lang: Language): { status: number; body: { error_code: string; error_msg: string } } {
  if (err instanceof HuaweiGatewayError) return { status: err.status, body: { error_code: err.code, error_msg: err.message } };
  if (err instanceof BatchRefusedError) {
    const sep = lang === 'en-us' ? '; ' : ';';
    return {
      status: 400,
      body: {
        error_code: 'DBS.200001',
        error_msg: MESSAGES.batchRefused[lang] + err.problems.map((p) => problemText(p, lang)).join(sep),
      },
    };
  }
  const info = errorInfo(err);
  if (info.status >= 500) return { status: 500, body: { error_code: 'DBS.280001', error_msg: MESSAGES.serverError[lang] } };
  const mapped = GAUSS_ERRORS[info.code] ?? {
    status: KEPT_STATUSES.has(info.status) ? info.status : 400,
    code: 'DBS.200001',
    key: 'parameterError' as const,
  };
  // The product's own explanation follows the vendor sentence; it names the field or the state.
  return { status: mapped.status, body: { error_code: mapped.code, error_msg: `${MESSAGES[mapped.key][lang]} ${info.message}` } };
}

/** GaussDB's error envelope in the language X-Language asks for, with X-Request-Id. */
export function renderGaussError(err: unknown, meta: ErrorMeta): RenderedError {
  const { status, body } = gaussError(err, languageOf(meta.headers['x-language']));
  return { status, body, headers: { 'X-Request-Id': meta.requestId } };
}
