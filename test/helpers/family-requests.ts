// Requests to every API family through app.inject, each authenticated the way its vendor's clients
// do it: a bearer token (native), ACS3-HMAC-SHA256 (ACK, Hologres), SDK-HMAC-SHA256 (CSS, GaussDB)
// and OBShell's encrypted header and body. Used by the fuzz, tenancy, signature and rate-limit tests.
// A requester built with socketWire sends the same requests over a real socket with the path as
// given: app.inject and fetch resolve dot segments (`/v1.0/../clusters`), a raw client need not.
// OBShell's requests always go over a socket, to the cluster's own agent port.
import http from 'node:http';
import type { FastifyInstance } from 'fastify';
import { signAcs3 } from '../../src/auth/acs3.ts';
import { signHuawei } from '../../src/auth/huawei-sdk-hmac.ts';
import { ObshellClient } from '../../src/clients/obshell-client.ts';
import type { FamilyName } from '../../src/http/error-envelopes.ts';

export const HOST = 'liftgate.test';

export interface AccessKey {
  accessKeyId: string;
  accessKeySecret: string;
}

/** One project's credentials for every family. */
export interface ProjectCredentials {
  projectId: string;
  token: string;
  accessKey: AccessKey;
  /** the OBShell password of one of the project's clusters */
  obshellPassword: string;
  /** that cluster's own OBShell agent port (on 127.0.0.1) */
  obshellPort: number;
}

export interface Answer {
  status: number;
  body: string;
  json: any;
  headers: Record<string, unknown>;
}

export interface FamilyRequest {
  method: string;
  /** path plus query, as it goes on the wire */
  url: string;
  /** a JSON value, or a string sent as is */
  body?: unknown;
  headers?: Record<string, string>;
}

function answer(res: { statusCode: number; body: string; headers: Record<string, unknown> }): Answer {
  let json: unknown = null;
  try {
    json = res.body ? JSON.parse(res.body) : null;
  } catch {
    json = null;
  }
  return { status: res.statusCode, body: res.body, json, headers: res.headers };
}

/** One request as it goes on the wire: the path is sent as given. */
export interface WireRequest {
  method: string;
  url: string;
  headers: Record<string, string>;
  payload?: string;
}

/** How a requester sends: through app.inject (the default), or over a socket (socketWire). */
export type Wire = (r: WireRequest) => Promise<Answer>;

export function injectWire(app: FastifyInstance): Wire {
  return async (r) =>
    answer(
      await app.inject({
        method: r.method as 'GET',
        url: r.url,
        headers: r.headers,
        ...(r.payload !== undefined ? { payload: r.payload } : {}),
      }),
    );
}

/** Over a real TCP connection to a listening server, the path byte for byte as given. */
export function socketWire(port: number, host = '127.0.0.1'): Wire {
  return (r) =>
    new Promise<Answer>((resolve, reject) => {
      const req = http.request(
        {
          host,
          port,
          method: r.method,
          path: r.url,
          agent: false,
          headers: {
            ...r.headers,
            ...(r.payload !== undefined ? { 'content-length': String(Buffer.byteLength(r.payload)) } : {}),
          },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('error', reject);
          res.on('end', () =>
            resolve(
              answer({ statusCode: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8'), headers: res.headers }),
            ),
          );
        },
      );
      req.on('error', reject);
      req.end(r.payload);
    });
}

const payloadOf = (body: unknown): string | undefined =>
  body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body);

/**
 * One request over a real socket to 127.0.0.1:port (an OBShell agent's port), its path sent as
 * given: no client normalises it (`..` stays `..`).
 */
export function sendTo(port: number, r: FamilyRequest): Promise<Answer> {
  const payload = payloadOf(r.body);
  return socketWire(port)({
    method: r.method,
    url: r.url,
    headers: { ...(payload !== undefined ? { 'content-type': 'application/json' } : {}), ...(r.headers ?? {}) },
    ...(payload !== undefined ? { payload } : {}),
  });
}

export class FamilyRequester {
  private readonly obshell = new Map<string, ObshellClient>();
  private readonly wire: Wire;
  constructor(
    private readonly app: FastifyInstance,
    wire?: Wire,
  ) {
    this.wire = wire ?? injectWire(app);
  }

  async raw(r: FamilyRequest): Promise<Answer> {
    const payload = payloadOf(r.body);
    return this.wire({
      method: r.method,
      url: r.url,
      headers: { ...(payload !== undefined ? { 'content-type': 'application/json' } : {}), ...(r.headers ?? {}) },
      ...(payload !== undefined ? { payload } : {}),
    });
  }

  async native(r: FamilyRequest, token: string): Promise<Answer> {
    return this.raw({ ...r, headers: { authorization: `Bearer ${token}`, ...(r.headers ?? {}) } });
  }

  acsHeaders(r: FamilyRequest, key: AccessKey): Record<string, string> {
    const payload = payloadOf(r.body);
    return signAcs3({
      method: r.method,
      rawUrl: r.url,
      headers: { host: HOST, ...(payload !== undefined ? { 'content-type': 'application/json' } : {}), ...(r.headers ?? {}) },
      body: payload,
      accessKeyId: key.accessKeyId,
      accessKeySecret: key.accessKeySecret,
    });
  }

  async acs(r: FamilyRequest, key: AccessKey): Promise<Answer> {
    return this.raw({ ...r, headers: this.acsHeaders(r, key) });
  }

  huaweiHeaders(r: FamilyRequest, key: AccessKey, projectId: string): Record<string, string> {
    const payload = payloadOf(r.body);
    return signHuawei({
      method: r.method,
      rawUrl: r.url,
      headers: {
        host: HOST,
        'x-project-id': projectId,
        ...(payload !== undefined ? { 'content-type': 'application/json' } : {}),
        ...(r.headers ?? {}),
      },
      body: payload,
      accessKeyId: key.accessKeyId,
      secretAccessKey: key.accessKeySecret,
    });
  }

  async huawei(r: FamilyRequest, key: AccessKey, projectId: string): Promise<Answer> {
    return this.raw({ ...r, headers: this.huaweiHeaders(r, key, projectId) });
  }

  /** An OBShell request, encrypted as its SDKs do, to the cluster's own agent port (a real socket). */
  async obshellRequest(r: FamilyRequest, password: string, port: number): Promise<Answer> {
    const key = `${port}/${password}`;
    let client = this.obshell.get(key);
    if (!client) {
      client = new ObshellClient({ baseUrl: `http://127.0.0.1:${port}`, password });
      this.obshell.set(key, client);
    }
    const body = typeof r.body === 'string' ? Buffer.from(r.body, 'utf8') : r.body;
    const enc = await client.encrypt(r.url, body);
    const headers: Record<string, string> = { 'x-ocs-header': enc.header, ...(r.headers ?? {}) };
    if (enc.body !== undefined) headers['content-type'] = 'application/json';
    return socketWire(port)({ method: r.method, url: r.url, headers, ...(enc.body !== undefined ? { payload: enc.body } : {}) });
  }

  /** The request, authenticated with the project's credential for the family. */
  async as(family: FamilyName, r: FamilyRequest, c: ProjectCredentials): Promise<Answer> {
    switch (family) {
      case 'native':
        return this.native(r, c.token);
      case 'ack':
      case 'hologres':
        return this.acs(r, c.accessKey);
      case 'css':
      case 'gaussdb':
        return this.huawei(r, c.accessKey, c.projectId);
      case 'obshell':
        return this.obshellRequest(r, c.obshellPassword, c.obshellPort);
    }
  }
}

/** Asserts nothing; answers whether a body is in the family's documented error envelope. */
export function isFamilyErrorEnvelope(family: FamilyName, a: Answer): boolean {
  const j = a.json;
  if (j === null || typeof j !== 'object') return family === 'ack' && /^<\?xml|<Error>/.test(a.body);
  switch (family) {
    case 'native':
      return typeof j.error?.code === 'string' && typeof j.error?.message === 'string';
    case 'ack':
      return typeof j.code === 'string' && typeof j.message === 'string' && typeof j.requestId === 'string';
    case 'hologres':
      return (
        j.Success === false && typeof j.ErrorCode === 'string' && typeof j.Code === 'string' && typeof j.RequestId === 'string'
      );
    case 'css':
    case 'gaussdb':
      return typeof j.error_code === 'string' && typeof j.error_msg === 'string';
    case 'obshell':
      return j.successful === false && j.status === a.status && typeof j.error?.errCode === 'string';
  }
}

/** The error code of an answer in the family's error envelope (ACK's XML included). */
export function errorCodeOf(family: FamilyName, a: Answer): string | undefined {
  const j = a.json;
  switch (family) {
    case 'native':
      return j?.error?.code;
    case 'ack':
      return j?.code ?? /<code>([^<]*)<\/code>/i.exec(a.body)?.[1];
    case 'hologres':
      return j?.Code;
    case 'css':
    case 'gaussdb':
      return j?.error_code;
    case 'obshell':
      return j?.error?.errCode;
  }
}
