// A small client of the native API, used by the CLI and by tests.
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly body: unknown,
  ) {
    super(message);
  }
}

export type Query = Record<string, string | number | boolean | string[] | undefined>;

/** a request that waits longer than this is reported as an unreachable server, not a hang */
const REQUEST_TIMEOUT_MS = 60_000;

export class ApiClient {
  constructor(
    readonly baseUrl: string,
    readonly token?: string,
  ) {}

  url(path: string, query: Query = {}): URL {
    const url = new URL(path, this.baseUrl);
    for (const [k, v] of Object.entries(query)) {
      if (Array.isArray(v)) for (const item of v) url.searchParams.append(k, item);
      else if (v !== undefined) url.searchParams.set(k, String(v));
    }
    return url;
  }

  headers(extra: Record<string, string> = {}): Record<string, string> {
    return { ...(this.token ? { authorization: `Bearer ${this.token}` } : {}), ...extra };
  }

  /** fetch with the token; a network failure becomes ApiError UNREACHABLE (status 0) */
  async fetch(url: URL, init: RequestInit = {}): Promise<Response> {
    try {
      return await fetch(url, init);
    } catch (err) {
      const cause = (err as { cause?: { code?: string; message?: string } }).cause;
      const why = cause?.code ?? cause?.message ?? (err as Error).message;
      throw new ApiError(0, 'UNREACHABLE', `cannot reach ${this.baseUrl} (${why})`, null);
    }
  }

  async request<T>(method: string, path: string, body?: unknown, query?: Query): Promise<T> {
    const res = await this.fetch(this.url(path, query), {
      method,
      headers: this.headers(body !== undefined ? { 'content-type': 'application/json' } : {}),
      body: body !== undefined ? JSON.stringify(body) : undefined,
      signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
    });
    const text = await res.text();
    let json: unknown = null;
    try {
      json = text ? (JSON.parse(text) as unknown) : null;
    } catch {
      if (res.ok)
        throw new ApiError(res.status, 'BAD_RESPONSE', `${this.baseUrl} answered with something that is not JSON`, text);
    }
    if (!res.ok) {
      const e = (json as { error?: { code?: string; message?: string } } | null)?.error;
      throw new ApiError(res.status, e?.code ?? String(res.status), e?.message ?? (res.statusText || `HTTP ${res.status}`), json);
    }
    return json as T;
  }

  get<T>(path: string, query?: Query): Promise<T> {
    return this.request<T>('GET', path, undefined, query);
  }

  post<T>(path: string, body: unknown): Promise<T> {
    return this.request<T>('POST', path, body);
  }

  put<T>(path: string, body: unknown): Promise<T> {
    return this.request<T>('PUT', path, body);
  }

  patch<T>(path: string, body: unknown): Promise<T> {
    return this.request<T>('PATCH', path, body);
  }

  delete<T>(path: string): Promise<T> {
    return this.request<T>('DELETE', path);
  }

  /** every item of a paginated list (limit/offset), page by page */
  async all<T>(path: string, query: Query = {}, pageSize = 500): Promise<T[]> {
    const items: T[] = [];
    for (let offset = 0; ; offset += pageSize) {
      const page = await this.get<{ items: T[] }>(path, { ...query, limit: pageSize, offset });
      items.push(...page.items);
      if (page.items.length < pageSize) return items;
    }
  }
}
