// OBShell's error codes and messages, English and Chinese, as its agent has them
// (ob/agent/errors/errorcode.go and ob/agent/assets/i18n/error/{en,zh}.json in
// oceanbase/obshell). The message language follows Accept-Language: any `zh*` tag
// first in the list gives Chinese, everything else English, as OBShell defaults to.
//
// Status codes are OBShell's except where OBShell answers 500 for a state the
// caller can act on (cluster under maintenance, observer unavailable): Liftgate
// keeps 5xx for its own faults and answers those with 409. See docs/api-compat/obshell.md.

export type Lang = 'en' | 'zh';

interface ErrorDef {
  code: string;
  status: number;
  /** OBShell's deprecated numeric code (ApiError.code); 0 where it has none */
  oldCode: number;
  en: string;
  zh: string;
}

const def = (code: string, status: number, en: string, zh: string, oldCode = 0): ErrorDef => ({ code, status, oldCode, en, zh });

export const OBSHELL_ERRORS = {
  // general
  badRequest: def('Common.BadRequest', 400, 'Bad request: %s', '错误的请求：%s'),
  bindJsonFailed: def('Common.BindJsonFailed', 400, 'Bind JSON failed: %s', '绑定 JSON 失败：%s'),
  illegalArgument: def('Common.IllegalArgument', 400, "The input parameter '%s' is illegal: %s", "传入的参数 '%s' 非法：%s"),
  invalidPath: def('Common.InvalidPath', 400, "Path '%s' is not valid: %s", "路径 '%s' 无效：%s"),
  notFound: def('Common.NotFound', 404, 'Element not found: %s', '未找到资源：%s'),
  unexpected: def('Common.Unexpected', 500, 'Unexpected error: %s', '非预期错误：%s'),
  tooManyRequests: def('Common.TooManyRequests', 429, 'Too many requests: %s', '请求过于频繁：%s'),
  // authentication (the codes src/auth/obshell-crypto.ts produces)
  headerNotFound: def(
    'Request.Header.NotFound',
    400,
    'X-OCS-Agent-Header or X-OCS-Header not found in http request header',
    'HTTP 请求头中未找到 X-OCS-Agent-Header 或 X-OCS-Header',
  ),
  headerDecryptFailed: def(
    'Security.Authentication.Header.DecryptFailed',
    401,
    'Decrypt http header failed: %s',
    '解密 HTTP 请求头失败：%s',
    1,
  ),
  uriMismatch: def('Security.Authentication.Header.UriMismatch', 401, 'URI mismatch', 'URI 不匹配', 10008),
  expired: def('Security.Authentication.Expired', 401, 'Authentication expired', '认证信息已过期', 10008),
  timestampInvalid: def('Security.Authentication.Timestamp.Invalid', 401, 'Invalid timestamp: %s', '无效的时间戳：%s', 10008),
  unauthorized: def('Security.Authentication.Unauthorized', 401, 'Authentication failed', '认证失败', 10008),
  // Liftgate's addition: OBShell itself accepts a replay inside the ts window.
  replayed: def(
    'Security.Authentication.Header.Replayed',
    401,
    'X-OCS-Header has already been used',
    'X-OCS-Header 已被使用过',
    10008,
  ),
  bodyDecryptFailed: def('Security.DecryptFailed', 400, 'Decrypt failed: %s', '解密失败：%s'),
  // Liftgate's addition: one Liftgate serves many clusters, each on its own agent address.
  misdirected: def(
    'Request.Misdirected',
    421,
    "This address serves no OceanBase cluster: each cluster has its own OBShell agent address (host:port). Find it with 'liftgate targets show <cluster>' or GET /v1/projects/{project}/targets/{cluster} (obshellAgent), and point the client there",
    "此地址不服务任何 OceanBase 集群：每个集群都有自己的 OBShell agent 地址（host:port）。请用 'liftgate targets show <cluster>' 或 GET /v1/projects/{project}/targets/{cluster}（obshellAgent）查到它，并让客户端连接该地址",
  ),
  replayGuardFull: def('Common.Unexpected', 503, 'Unexpected error: %s', '非预期错误：%s'),
  // upgrade prechecks
  serverUnavailable: def('OB.Server.Unavailable', 409, "Observer '%s' is not available", "observer '%s' 不可用"),
  modeNotSupported: def('OB.Upgrade.Mode.NotSupported', 400, "Upgrade mode '%s' is not supported", "不支持的升级模式 '%s'"),
  unableToRolling: def(
    'OB.Upgrade.UnableToRollingUpgrade',
    400,
    'Rolling upgrade requires at least 3 zones (or 2 zones for shared storage mode)',
    '轮转升级需要至少 3 个 zone（共享存储模式需至少 2 个 zone）',
  ),
  toLowerVersion: def(
    'OB.Upgrade.ToLowerVersion',
    400,
    'Target version %s is not greater than current version %s. Please verify if the parameters have been filled out correctly',
    '目标版本 %s 不高于当前版本 %s。请验证参数是否正确填写',
  ),
  toDeprecatedVersion: def('OB.Upgrade.ToDeprecatedVersion', 400, 'Target version %s is deprecated', '目标版本 %s 已弃用'),
  pathNotExist: def(
    'OB.Upgrade.Path.NotExist',
    400,
    'Cannot find the upgrade path from the current version %s to the target version %s, please check the upgrade dependency YAML file',
    '无法找到从当前版本 %s 到目标版本 %s 的升级路径，请检查升级依赖的 YAML 文件',
  ),
  releaseFormatInvalid: def('Package.ReleaseFormat.Invalid', 400, 'Release format %s is illegal', 'release 格式 %s 不合法'),
  packageNotExist: def('OB.Package.NotExist', 400, "These packages are missing: '%s'", "缺少以下包：'%s'"),
  underMaintenanceWithDag: def(
    'OB.Cluster.UnderMaintenanceWithDag',
    409,
    'OceanBase cluster is under maintenance by DAG: %s, please try again later',
    '集群处于运维状态中，运维任务：%s',
  ),
  // tasks
  taskNotFound: def('Task.NotFound', 404, 'Task not found: %s', '未找到任务：%s'),
  genericIdInvalid: def('Task.GenericID.Invalid', 400, 'Invalid ID: %s', '无效的任务通用 ID：%s'),
  operatorNotSupport: def('Task.Dag.Operator.NotSupport', 400, 'Operator %s is not supported', "不支持的任务操作 '%s'"),
  retryNotFailed: def(
    'Task.Dag.Operator.RetryNotFailedDag',
    400,
    'Failed to set DAG retry: DAG state is not failed',
    '重试 DAG 失败：DAG 未失败',
  ),
  passNotFailed: def(
    'Task.Dag.Operator.PassNotFailedDag',
    400,
    'Failed to pass DAG: DAG is not failed',
    '跳过 DAG 失败：DAG 未失败',
  ),
  rollbackNotFailed: def(
    'Task.Dag.Operator.RollbackNotFailedDag',
    400,
    'Failed to set DAG rollback: DAG state is not failed',
    '设置 DAG 回滚失败：DAG 未失败',
  ),
  rollbackNotAllowed: def(
    'Task.Dag.Operator.RollbackNotAllowed',
    400,
    'Failed to set DAG rollback: node %s cannot rollback',
    '设置 DAG 回滚失败：节点 %s 不能回滚',
  ),
  cancelFinished: def(
    'Task.Dag.Operator.CancelFinishedDag',
    400,
    'Failed to cancel DAG: DAG is finished',
    '取消 DAG 失败：DAG 已执行完成',
  ),
} as const satisfies Record<string, ErrorDef>;

export type ObshellErrorKey = keyof typeof OBSHELL_ERRORS;

/** An error this family renders in OBShell's envelope, in the caller's language. */
export class ObshellError extends Error {
  readonly def: ErrorDef;
  constructor(
    readonly key: ObshellErrorKey,
    readonly args: readonly (string | number)[] = [],
  ) {
    super(format(OBSHELL_ERRORS[key].en, args));
    this.name = 'ObshellError';
    this.def = OBSHELL_ERRORS[key];
  }

  messageIn(lang: Lang): string {
    return format(this.def[lang], this.args);
  }
}

function format(template: string, args: readonly (string | number)[]): string {
  let i = 0;
  return template.replace(/%s/g, () => String(args[i++] ?? ''));
}

/** `zh`, `zh-CN`, `zh-Hans;q=0.9`... as the first preference give Chinese. */
export function langOf(acceptLanguage: string | string[] | undefined): Lang {
  const raw = Array.isArray(acceptLanguage) ? acceptLanguage[0] : acceptLanguage;
  if (!raw) return 'en';
  const ranked = raw
    .split(',')
    .map((part, i) => {
      const [tag, ...params] = part.trim().split(';');
      const q = params.map((p) => p.trim()).find((p) => p.startsWith('q='));
      return { tag: (tag ?? '').toLowerCase(), q: q ? Number(q.slice(2)) || 0 : 1, i };
    })
    .filter((x) => x.tag !== '' && x.q > 0)
    .sort((a, b) => b.q - a.q || a.i - b.i);
  return ranked[0]?.tag.startsWith('zh') ? 'zh' : 'en';
}
