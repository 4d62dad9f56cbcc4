// The driver for SQLite's own WebAssembly build (@sqlite.org/sqlite-wasm): implements the engine's
// Connection over an oo1 database through the C API, so that INTEGER stays bigint and REAL stays
// number both ways (the oo1 conveniences turn 2.0 into 2 and small bigints into numbers).

import type { SqlValue } from '../codec/value.js';
import type { AggregateOptions, Connection, FunctionOptions, Statement } from '../engine/connection.js';

/** The parts of the sqlite3 module object (what sqlite3InitModule() resolves to) this driver uses. */
export interface WasmSqlite3 {
  capi: WasmCapi;
  wasm: {
    heap8u(): Uint8Array;
    heap32u(): Uint32Array;
    alloc(bytes: number): number;
    dealloc(pointer: number): void;
    installFunction(signature: string, fn: (...args: number[]) => void): number;
    /** The C functions themselves: numbers and BigInt only, no conversions (the hot paths call these). */
    exports: RawExports;
  };
}

/** An oo1 database (sqlite3.oo1.DB or a VFS's subclass). */
export interface WasmDatabase {
  /** The sqlite3* pointer; undefined once closed. */
  readonly pointer: number | undefined;
  exec(sql: string): unknown;
  prepare(sql: string): WasmStatement;
  close(): void;
}

interface WasmStatement {
  readonly pointer: number | undefined;
  readonly columnCount: number;
  finalize(): unknown;
}

interface WasmCapi {
  SQLITE_UTF8: number;
  SQLITE_DETERMINISTIC: number;
  SQLITE_DIRECTONLY: number;
  sqlite3_create_function_v2(db: number, name: string, arity: number, flags: number, app: number, xFunc: number, xStep: number, xFinal: number, xDestroy: number): number;
  sqlite3_result_error(context: number, message: string, length: number): void;
  sqlite3_errmsg(db: number): string;
  sqlite3_js_rc_str(rc: number): string | undefined;
  sqlite3_db_readonly(db: number, schema: string): number;
  sqlite3_db_filename(db: number, schema: string): string | null;
}

interface RawExports {
  sqlite3_value_type(value: number): number;
  sqlite3_value_int64(value: number): bigint;
  sqlite3_value_double(value: number): number;
  sqlite3_value_text(value: number): number;
  sqlite3_value_blob(value: number): number;
  sqlite3_value_bytes(value: number): number;
  sqlite3_column_type(statement: number, column: number): number;
  sqlite3_column_int64(statement: number, column: number): bigint;
  sqlite3_column_double(statement: number, column: number): number;
  sqlite3_column_text(statement: number, column: number): number;
  sqlite3_column_blob(statement: number, column: number): number;
  sqlite3_column_bytes(statement: number, column: number): number;
  sqlite3_bind_int64(statement: number, index: number, value: bigint): number;
  sqlite3_bind_double(statement: number, index: number, value: number): number;
  sqlite3_bind_text(statement: number, index: number, text: number, bytes: number, destructor: number): number;
  sqlite3_bind_blob(statement: number, index: number, blob: number, bytes: number, destructor: number): number;
  sqlite3_bind_null(statement: number, index: number): number;
  sqlite3_clear_bindings(statement: number): number;
  sqlite3_step(statement: number): number;
  sqlite3_reset(statement: number): number;
  sqlite3_result_int64(context: number, value: bigint): void;
  sqlite3_result_double(context: number, value: number): void;
  sqlite3_result_text(context: number, text: number, bytes: number, destructor: number): void;
  sqlite3_result_blob(context: number, blob: number, bytes: number, destructor: number): void;
  sqlite3_result_null(context: number): void;
  sqlite3_aggregate_context(context: number, bytes: number): number;
  sqlite3_changes(db: number): number;
  sqlite3_get_autocommit(db: number): number;
  sqlite3_extended_errcode(db: number): number;
}

/** SQLITE_TRANSIENT: SQLite copies the bytes at once, so the scratch buffer can be reused. */
const TRANSIENT = -1;
const ROW = 100;
const DONE = 101;

/** Moves values between JavaScript and the wasm heap: strings and bytes through one scratch buffer. */
class Heap {
  private scratch = 0;
  private size = 0;
  private readonly encoder = new TextEncoder();
  private readonly decoder = new TextDecoder();

  constructor(private readonly wasm: WasmSqlite3['wasm']) {}

  /** The UTF-8 text of `bytes` bytes at `at` (short ASCII decoded without TextDecoder). */
  text(at: number, bytes: number): string {
    if (bytes === 0) return '';
    const heap = this.wasm.heap8u();
    if (bytes <= 32) {
      let s = '';
      for (let i = at; i < at + bytes; i++) {
        const c = heap[i] as number;
        if (c >= 0x80) return this.decoder.decode(heap.subarray(at, at + bytes));
        s += String.fromCharCode(c);
      }
      return s;
    }
    return this.decoder.decode(heap.subarray(at, at + bytes));
  }

  /** A copy of `bytes` bytes at `at`. */
  bytes(at: number, bytes: number): Uint8Array {
    return bytes === 0 ? new Uint8Array(0) : this.wasm.heap8u().slice(at, at + bytes);
  }

  /** Writes `value`'s UTF-8 into the scratch buffer; returns its length (the pointer is `at`). */
  putText(value: string): number {
    this.reserve(value.length * 3 + 1);
    return this.encoder.encodeInto(value, this.wasm.heap8u().subarray(this.scratch, this.scratch + this.size)).written;
  }

  /** Copies `value` into the scratch buffer. */
  putBytes(value: Uint8Array): void {
    this.reserve(value.length + 1);
    this.wasm.heap8u().set(value, this.scratch);
  }

  /** Where the last putText or putBytes wrote (read it after them: they may move the buffer). */
  get at(): number {
    return this.scratch;
  }

  private reserve(bytes: number): void {
    if (bytes <= this.size) return;
    if (this.scratch !== 0) this.wasm.dealloc(this.scratch);
    this.size = Math.max(bytes, this.size * 2, 1024);
    this.scratch = this.wasm.alloc(this.size);
  }
}

// The engine keeps the statements it prepares often; a statement prepared once and dropped is
// finalized when its wrapper is collected (oo1 finalizes the rest when the database closes).
const finalizer = new FinalizationRegistry<WasmStatement>((statement) => {
  try {
    if (statement.pointer !== undefined) statement.finalize();
  } catch {
    // its database closed meanwhile, which finalized it
  }
});

const INTEGER = 1;
const FLOAT = 2;
const TEXT = 3;
const BLOB = 4;

/** The engine's Connection over sqlite-wasm, and a way to run the user's own statements. */
export interface WasmConnection extends Connection {
  /** Runs `work` (statements on the oo1 database); an error one of our SQL functions threw comes out as itself. */
  running<T>(work: () => T): T;
}

/** Wraps an open sqlite-wasm database as the engine's Connection. */
export function createSqliteWasmConnection(sqlite3: WasmSqlite3, db: WasmDatabase): WasmConnection {
  const { capi, wasm } = sqlite3;
  const handle = (): number => {
    if (db.pointer === undefined) throw new Error('sqlite-sync: the database is closed');
    return db.pointer;
  };
  // A JavaScript error thrown by one of our SQL functions reaches SQLite as a message only; the
  // statement that ran it throws the original error instead (as better-sqlite3 does).
  let thrown: unknown = null;
  const running = <T>(work: () => T): T => {
    thrown = null;
    try {
      return work();
    } catch (error) {
      if (thrown !== null) {
        const original = thrown;
        thrown = null;
        throw original;
      }
      throw error;
    }
  };

  const x = wasm.exports;
  const heap = new Heap(wasm);
  const valueOf = (pointer: number, numbers: boolean): SqlValue => {
    switch (x.sqlite3_value_type(pointer)) {
      case INTEGER:
        return numbers ? Number(x.sqlite3_value_int64(pointer)) : x.sqlite3_value_int64(pointer);
      case FLOAT:
        return x.sqlite3_value_double(pointer);
      case TEXT: {
        const at = x.sqlite3_value_text(pointer);
        return heap.text(at, x.sqlite3_value_bytes(pointer));
      }
      case BLOB: {
        const at = x.sqlite3_value_blob(pointer);
        return heap.bytes(at, x.sqlite3_value_bytes(pointer));
      }
      default:
        return null;
    }
  };
  const argumentsOf = (argc: number, argv: number, numbers = false): SqlValue[] => {
    const values = new Array<SqlValue>(argc);
    const pointers = wasm.heap32u();
    for (let i = 0; i < argc; i++) values[i] = valueOf(pointers[(argv >>> 2) + i] as number, numbers);
    return values;
  };
  const setResult = (context: number, value: SqlValue): void => {
    if (typeof value === 'bigint') x.sqlite3_result_int64(context, value);
    else if (typeof value === 'number') x.sqlite3_result_double(context, value);
    else if (typeof value === 'string') {
      const bytes = heap.putText(value); // first: writing may move the scratch buffer
      x.sqlite3_result_text(context, heap.at, bytes, TRANSIENT);
    }
    else if (value === null) x.sqlite3_result_null(context);
    else {
      heap.putBytes(value);
      x.sqlite3_result_blob(context, heap.at, value.length, TRANSIENT);
    }
  };
  const fail = (context: number, error: unknown): void => {
    thrown = error;
    capi.sqlite3_result_error(context, error instanceof Error ? error.message : String(error), -1);
  };
  const define = (name: string, options: FunctionOptions, xFunc: number, xStep: number, xFinal: number): void => {
    const flags = capi.SQLITE_UTF8 | (options.deterministic ? capi.SQLITE_DETERMINISTIC : 0) | (options.directOnly ? capi.SQLITE_DIRECTONLY : 0);
    const rc = capi.sqlite3_create_function_v2(handle(), name, -1, flags, 0, xFunc, xStep, xFinal, 0);
    if (rc !== 0) throw new Error(`sqlite-sync: could not register the SQL function ${name} (SQLite result code ${rc})`);
  };

  return {
    running,
    exec: (sql) => running(() => void db.exec(sql)),
    prepare: (sql): Statement => prepareStatement(sqlite3, heap, db, sql, running),
    registerFunction: (name, fn, options = {}) => {
      const xFunc = wasm.installFunction('v(pip)', (context, argc, argv) => {
        try {
          setResult(context, fn(argumentsOf(argc, argv)));
        } catch (error) {
          fail(context, error);
        }
      });
      define(name, options, xFunc, 0, 0);
    },
    registerAggregate: <State>(name: string, options: AggregateOptions<State>) => {
      // one state per running group, keyed by the group's aggregate context
      const states = new Map<number, State>();
      const fresh = (): State => (options.start ? options.start() : (options.initial as State));
      const xStep = wasm.installFunction('v(pip)', (context, argc, argv) => {
        try {
          const key = x.sqlite3_aggregate_context(context, 8);
          const state = states.has(key) ? (states.get(key) as State) : fresh();
          states.set(key, options.step(state, argumentsOf(argc, argv, options.numbers ?? false)));
        } catch (error) {
          fail(context, error);
        }
      });
      const xFinal = wasm.installFunction('v(p)', (context) => {
        const key = x.sqlite3_aggregate_context(context, 0);
        const state = key !== 0 && states.has(key) ? (states.get(key) as State) : fresh();
        states.delete(key);
        try {
          setResult(context, options.result ? options.result(state) : (state as SqlValue));
        } catch (error) {
          fail(context, error);
        }
      });
      define(name, {}, 0, xStep, xFinal);
    },
    get isOpen() {
      return db.pointer !== undefined;
    },
    get inTransaction() {
      return db.pointer !== undefined && x.sqlite3_get_autocommit(db.pointer) === 0;
    },
    // both fixed when the database opened (read once: the C API calls convert strings)
    isMemory: ((file) => file === null || file === '')(capi.sqlite3_db_filename(handle(), 'main')),
    isReadonly: capi.sqlite3_db_readonly(handle(), 'main') === 1,
    reentrant: true,
  };
}

function prepareStatement(sqlite3: WasmSqlite3, heap: Heap, db: WasmDatabase, sql: string, running: <T>(work: () => T) => T): Statement {
  const x = sqlite3.wasm.exports;
  const statement = db.prepare(sql);
  const pointer = statement.pointer as number;
  const columns = statement.columnCount;
  const bind = (params: readonly SqlValue[]) => {
    x.sqlite3_reset(pointer);
    x.sqlite3_clear_bindings(pointer);
    for (let i = 0; i < params.length; i++) {
      const value = params[i] as SqlValue;
      let rc: number;
      if (typeof value === 'bigint') rc = x.sqlite3_bind_int64(pointer, i + 1, value);
      else if (typeof value === 'number') rc = x.sqlite3_bind_double(pointer, i + 1, value);
      else if (typeof value === 'string') {
        const bytes = heap.putText(value); // first: writing may move the scratch buffer
        rc = x.sqlite3_bind_text(pointer, i + 1, heap.at, bytes, TRANSIENT);
      }
      else if (value === null) rc = x.sqlite3_bind_null(pointer, i + 1);
      else {
        heap.putBytes(value);
        rc = x.sqlite3_bind_blob(pointer, i + 1, heap.at, value.length, TRANSIENT);
      }
      if (rc !== 0) throw sqliteError(sqlite3, db, rc);
    }
  };
  /** Steps once: true for a row, false when done; throws SQLite's error. */
  const step = (): boolean => {
    const rc = x.sqlite3_step(pointer);
    if (rc === ROW) return true;
    if (rc === DONE) return false;
    throw sqliteError(sqlite3, db, rc);
  };
  const row = (): SqlValue[] => {
    const values = new Array<SqlValue>(columns);
    for (let i = 0; i < columns; i++) {
      switch (x.sqlite3_column_type(pointer, i)) {
        case INTEGER:
          values[i] = x.sqlite3_column_int64(pointer, i);
          break;
        case FLOAT:
          values[i] = x.sqlite3_column_double(pointer, i);
          break;
        case TEXT: {
          const at = x.sqlite3_column_text(pointer, i);
          values[i] = heap.text(at, x.sqlite3_column_bytes(pointer, i));
          break;
        }
        case BLOB: {
          const at = x.sqlite3_column_blob(pointer, i);
          values[i] = heap.bytes(at, x.sqlite3_column_bytes(pointer, i));
          break;
        }
        default:
          values[i] = null;
      }
    }
    return values;
  };
  const once = <T>(params: readonly SqlValue[], work: () => T): T =>
    running(() => {
      try {
        bind(params);
        return work();
      } finally {
        x.sqlite3_reset(pointer);
      }
    });
  const wrapper: Statement = {
    run: (params = []) =>
      once(params, () => {
        while (step());
        return x.sqlite3_changes(db.pointer as number);
      }),
    get: (params = []) => once(params, () => (step() ? row() : undefined)),
    all: (params = []) =>
      once(params, () => {
        const rows: SqlValue[][] = [];
        while (step()) rows.push(row());
        return rows;
      }),
    iterate: (params = []) => {
      running(() => bind(params));
      return (function* rows() {
        try {
          while (running(step)) yield row();
        } finally {
          x.sqlite3_reset(pointer);
        }
      })();
    },
  };
  finalizer.register(wrapper, statement);
  return wrapper;
}

/** SQLite's error of the last call on `db`, with its extended code name as `code` (as better-sqlite3 gives it). */
function sqliteError(sqlite3: WasmSqlite3, db: WasmDatabase, rc: number): Error {
  const handle = db.pointer as number;
  const extended = sqlite3.wasm.exports.sqlite3_extended_errcode(handle);
  const code = sqlite3.capi.sqlite3_js_rc_str(extended) ?? sqlite3.capi.sqlite3_js_rc_str(rc) ?? `SQLITE_${rc}`;
  return Object.assign(new Error(sqlite3.capi.sqlite3_errmsg(handle)), { code });
}
