// The status readers of bench:fleet, in their own process: one autocannon instance per endpoint,
// each at a steady rate (requests per second, latencies corrected for coordinated omission), until
// the parent sends "stop" over IPC; then one JSON line of results per endpoint on stdout.
// A vendor endpoint is signed per request (ACS3-HMAC-SHA256 with a fresh nonce), as its SDK does.
// Usage (by bench/fleet.ts): node --import tsx bench/lib/status-load.ts '<LoadSpec as JSON>'
import { createRequire } from 'node:module';
import { signAcs3 } from '../../src/auth/acs3.ts';

export interface LoadEndpoint {
  name: string;
  path: string;
  /** bearer: the native token; acs3: the access key */
  auth: 'bearer' | 'acs3';
}

export interface LoadSpec {
  url: string;
  token: string;
  accessKey?: { accessKeyId: string; accessKeySecret: string };
  /** requests per second, per endpoint */
  rate: number;
  endpoints: LoadEndpoint[];
}

export interface LoadResult {
  name: string;
  requests: number;
  non2xx: number;
  errors: number;
  p50: number;
  p99: number;
  max: number;
}

interface Instance {
  stop(): void;
  on(event: 'done', fn: (r: AutocannonResult) => void): void;
}
interface AutocannonResult {
  latency: { p50: number; p99: number; max: number };
  requests: { total: number };
  non2xx: number;
  errors: number;
}
type Run = (opts: Record<string, unknown>) => Instance;
// autocannon ships no types; the two calls used here are typed above
const autocannon = createRequire(import.meta.url)('autocannon') as Run;

const spec = JSON.parse(process.argv[2] ?? '{}') as LoadSpec;
const host = new URL(spec.url).host;

function start(e: LoadEndpoint): Promise<LoadResult> {
  const request =
    e.auth === 'bearer'
      ? { method: 'GET', path: e.path, headers: { authorization: `Bearer ${spec.token}` } }
      : {
          method: 'GET',
          path: e.path,
          // a fresh date and nonce per request: the replay guard refuses a repeated one
          setupRequest: (req: { headers?: Record<string, string> }) => {
            const key = spec.accessKey as NonNullable<LoadSpec['accessKey']>;
            req.headers = signAcs3({ method: 'GET', rawUrl: e.path, headers: { host }, ...key });
            return req;
          },
        };
  const instance = autocannon({
    url: spec.url,
    connections: Math.max(1, Math.ceil(spec.rate / 10)),
    overallRate: spec.rate,
    duration: 24 * 3600,
    requests: [request],
  });
  instances.push(instance);
  return new Promise((resolve) =>
    instance.on('done', (r) =>
      resolve({
        name: e.name,
        requests: r.requests.total,
        non2xx: r.non2xx,
        errors: r.errors,
        p50: r.latency.p50,
        p99: r.latency.p99,
        max: r.latency.max,
      }),
    ),
  );
}

const instances: Instance[] = [];
const results = Promise.all(spec.endpoints.map(start));
process.on('message', (m) => {
  if (m !== 'stop') return;
  for (const i of instances) i.stop();
  void results.then((rs) => {
    for (const r of rs) process.stdout.write(`${JSON.stringify(r)}\n`);
    process.disconnect();
  });
});
process.send?.('ready');
