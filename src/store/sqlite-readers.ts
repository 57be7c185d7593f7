// Reads of a SQLite store off the event loop: a few worker threads, each with its own read-only
// connection to the same file. WAL lets them read while the writer (on the main thread) commits,
// and a read statement never waits for the executor's statements on the event loop.
// Exposed as a Kysely dialect: each Kysely connection is one worker, leased for one query or, in a
// read transaction, until it ends (a consistent snapshot across its statements).
import { createRequire } from 'node:module';
import { MessageChannel, receiveMessageOnPort, Worker, type MessagePort } from 'node:worker_threads';
import {
  CompiledQuery,
  SqliteAdapter,
  SqliteIntrospector,
  SqliteQueryCompiler,
  type DatabaseConnection,
  type DatabaseIntrospector,
  type Dialect,
  type DialectAdapter,
  type Driver,
  type Kysely,
  type QueryCompiler,
  type QueryResult,
} from 'kysely';

/**
 * The worker, plain JavaScript evaluated as is (no TypeScript loader, so it runs the same from the
 * sources and from the build). It answers {id, sql, parameters} with {id, rows} or {id, error}.
 */
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.module);
const db = new Database(workerData.file, { readonly: true, fileMustExist: true });
db.pragma('busy_timeout = 5000');
const cache = new Map();
const { answers, flag } = workerData;
const done = new Int32Array(flag);
function run(m) {
  try {
    let stmt = cache.get(m.sql);
    if (!stmt) {
      stmt = db.prepare(m.sql);
      if (cache.size >= 500) cache.delete(cache.keys().next().value);
      cache.set(m.sql, stmt);
    }
    if (stmt.reader) return { id: m.id, rows: stmt.all(m.parameters) };
    const r = stmt.run(m.parameters);
    return { id: m.id, rows: [], changes: r.changes };
  } catch (err) {
    return { id: m.id, error: { message: String(err && err.message), code: err && err.code } };
  }
}
parentPort.on('message', (m) => {
  answers.postMessage(run(m));
  Atomics.store(done, 0, 1);
  Atomics.notify(done, 0);
});
`;

interface Answer {
  id: number;
  rows?: Record<string, unknown>[];
  changes?: number;
  error?: { message: string; code?: string };
}

/** how long a statement may take on a reader before its caller gives up */
const READ_TIMEOUT_MS = 30_000;

/**
 * One worker and its connection. The caller waits for the answer on a shared flag and takes it
 * from the port at once: the statement runs on the reader's connection (never behind the
 * writer's transactions), and its answer needs no turn of the event loop, which a busy executor
 * would delay statement after statement.
 */
class ReaderConnection implements DatabaseConnection {
  readonly #worker: Worker;
  readonly #answers: MessagePort;
  readonly #done = new Int32Array(new SharedArrayBuffer(4));
  #next = 0;
  #failed: Error | null = null;

  /** its thread failed or exited: the pool drops it and starts another */
  get broken(): boolean {
    return this.#failed !== null;
  }

  constructor(file: string, module: string) {
    const { port1, port2 } = new MessageChannel();
    this.#answers = port1;
    this.#worker = new Worker(WORKER_SOURCE, {
      eval: true,
      workerData: { file, module, answers: port2, flag: this.#done.buffer },
      transferList: [port2],
      execArgv: [],
    });
    // the thread does not keep the process alive: every call waits for its answer synchronously
    this.#worker.unref();
    port1.unref();
    const fail = (err: Error) => {
      this.#failed ??= err;
    };
    this.#worker.on('error', fail);
    this.#worker.on('exit', () => fail(new Error('the SQLite reader thread exited')));
  }

  async executeQuery<R>(compiled: CompiledQuery): Promise<QueryResult<R>> {
    if (this.#failed) throw this.#failed;
    const id = this.#next++;
    Atomics.store(this.#done, 0, 0);
    this.#worker.postMessage({ id, sql: compiled.sql, parameters: compiled.parameters });
    if (Atomics.wait(this.#done, 0, 0, READ_TIMEOUT_MS) === 'timed-out') {
      this.#failed = new Error(`a SQLite reader did not answer in ${READ_TIMEOUT_MS} ms`);
      void this.#worker.terminate();
      throw this.#failed;
    }
    const got = receiveMessageOnPort(this.#answers);
    const answer = got?.message as Answer | undefined;
    if (!answer || answer.id !== id) {
      this.#failed = new Error('a SQLite reader answered out of turn');
      throw this.#failed;
    }
    if (answer.error) {
      throw Object.assign(new Error(answer.error.message), answer.error.code ? { code: answer.error.code } : {});
    }
    return {
      rows: (answer.rows ?? []) as R[],
      ...(answer.changes !== undefined ? { numAffectedRows: BigInt(answer.changes) } : {}),
    };
  }

  async *streamQuery<R>(compiled: CompiledQuery): AsyncIterableIterator<QueryResult<R>> {
    yield await this.executeQuery<R>(compiled);
  }

  async close(): Promise<void> {
    this.#answers.close();
    await this.#worker.terminate();
  }
}

/** Leases the workers' connections: a free one, or the first to come free. */
class ReaderDriver implements Driver {
  readonly #file: string;
  readonly #size: number;
  readonly #module = createRequire(import.meta.url).resolve('better-sqlite3');
  #all: ReaderConnection[] = [];
  #free: ReaderConnection[] = [];
  #waiting: ((c: ReaderConnection) => void)[] = [];
  #destroyed = false;

  constructor(file: string, size: number) {
    this.#file = file;
    this.#size = size;
  }

  async init(): Promise<void> {}

  async acquireConnection(): Promise<DatabaseConnection> {
    if (this.#destroyed) throw new Error('the store is closed');
    const c = this.#free.pop();
    if (c) return c;
    // the threads start on the first reads that need them (a store opened only to write has none)
    if (this.#all.length < this.#size) {
      const made = new ReaderConnection(this.#file, this.#module);
      this.#all.push(made);
      return made;
    }
    return new Promise((resolve) => this.#waiting.push(resolve));
  }

  async releaseConnection(connection: DatabaseConnection): Promise<void> {
    const c = connection as ReaderConnection;
    if (c.broken) {
      this.#all = this.#all.filter((x) => x !== c);
      void c.close();
      const next = this.#waiting.shift();
      if (next && !this.#destroyed) {
        const made = new ReaderConnection(this.#file, this.#module);
        this.#all.push(made);
        next(made);
      }
      return;
    }
    const next = this.#waiting.shift();
    if (next) next(c);
    else this.#free.push(c);
  }

  async beginTransaction(connection: DatabaseConnection): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw('begin'));
  }

  async commitTransaction(connection: DatabaseConnection): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw('commit'));
  }

  async rollbackTransaction(connection: DatabaseConnection): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw('rollback'));
  }

  async destroy(): Promise<void> {
    this.#destroyed = true;
    const all = this.#all;
    this.#all = [];
    this.#free = [];
    await Promise.all(all.map((c) => c.close()));
  }
}

/** A Kysely dialect whose statements run on `size` read-only connections in worker threads. */
export class SqliteReaderDialect implements Dialect {
  readonly #file: string;
  readonly #size: number;

  constructor(file: string, size = 2) {
    this.#file = file;
    this.#size = size;
  }

  createAdapter(): DialectAdapter {
    return new SqliteAdapter();
  }

  createDriver(): Driver {
    return new ReaderDriver(this.#file, this.#size);
  }

  createQueryCompiler(): QueryCompiler {
    return new SqliteQueryCompiler();
  }

  createIntrospector(db: Kysely<unknown>): DatabaseIntrospector {
    return new SqliteIntrospector(db);
  }
}
