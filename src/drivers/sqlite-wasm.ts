// The driver for SQLite's own WebAssembly build (@sqlite.org/sqlite-wasm): implements the engine's
// Connection over an oo1 database through the C API, so that INTEGER stays bigint and REAL stays
// number both ways (the oo1 conveniences turn 2.0 into 2 and small bigints into numbers).

import type { SqlValue } from '../codec/value.js';
import type { AggregateOptions, Connection, FunctionOptions, Statement } from '../engine/connection.js';

/** The parts of the sqlite3 module object (what sqlite3InitModule() resolves to) this driver uses. */
export interface WasmSqlite3 {
  capi: WasmCapi;
  wasm: {
    ptr: { size: number };
    peekPtr(pointer: number): number;
    heap8u(): Uint8Array;
    installFunction(signature: string, fn: (...args: number[]) => void): number;
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
  bind(index: number, value: string | Uint8Array | null): unknown;
  step(): boolean;
  reset(alsoClearBinds?: boolean): unknown;
  finalize(): unknown;
}

interface WasmCapi {
  SQLITE_UTF8: number;
  SQLITE_DETERMINISTIC: number;
  SQLITE_DIRECTONLY: number;
  sqlite3_create_function_v2(db: number, name: string, arity: number, flags: number, app: number, xFunc: number, xStep: number, xFinal: number, xDestroy: number): number;
  sqlite3_value_type(value: number): number;
  sqlite3_value_int64(value: number): bigint;
  sqlite3_value_double(value: number): number;
  sqlite3_value_text(value: number): string;
  sqlite3_value_blob(value: number): number;
  sqlite3_value_bytes(value: number): number;
  sqlite3_column_type(statement: number, column: number): number;
  sqlite3_column_int64(statement: number, column: number): bigint;
  sqlite3_column_double(statement: number, column: number): number;
  sqlite3_column_text(statement: number, column: number): string;
  sqlite3_column_blob(statement: number, column: number): number;
  sqlite3_column_bytes(statement: number, column: number): number;
  sqlite3_bind_int64(statement: number, index: number, value: bigint): number;
  sqlite3_bind_double(statement: number, index: number, value: number): number;
  sqlite3_result_int64(context: number, value: bigint): void;
  sqlite3_result_double(context: number, value: number): void;
  sqlite3_result_js(context: number, value: string | Uint8Array | null): void;
  sqlite3_result_error(context: number, message: string, length: number): void;
  sqlite3_aggregate_context(context: number, bytes: number): number;
  sqlite3_changes(db: number): number;
  sqlite3_get_autocommit(db: number): number;
  sqlite3_db_readonly(db: number, schema: string): number;
  sqlite3_db_filename(db: number, schema: string): string | null;
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

  const valueOf = (pointer: number, numbers: boolean): SqlValue => {
    switch (capi.sqlite3_value_type(pointer)) {
      case INTEGER:
        return numbers ? Number(capi.sqlite3_value_int64(pointer)) : capi.sqlite3_value_int64(pointer);
      case FLOAT:
        return capi.sqlite3_value_double(pointer);
      case TEXT:
        return capi.sqlite3_value_text(pointer);
      case BLOB: {
        const n = capi.sqlite3_value_bytes(pointer);
        const at = capi.sqlite3_value_blob(pointer);
        return n === 0 ? new Uint8Array(0) : wasm.heap8u().slice(at, at + n);
      }
      default:
        return null;
    }
  };
  const argumentsOf = (argc: number, argv: number, numbers = false): SqlValue[] => {
    const values = new Array<SqlValue>(argc);
    for (let i = 0; i < argc; i++) values[i] = valueOf(wasm.peekPtr(argv + i * wasm.ptr.size), numbers);
    return values;
  };
  const setResult = (context: number, value: SqlValue): void => {
    if (typeof value === 'bigint') capi.sqlite3_result_int64(context, value);
    else if (typeof value === 'number') capi.sqlite3_result_double(context, value);
    else capi.sqlite3_result_js(context, value);
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
    prepare: (sql): Statement => prepareStatement(capi, wasm, db, sql, running),
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
          const key = capi.sqlite3_aggregate_context(context, 8);
          const state = states.has(key) ? (states.get(key) as State) : fresh();
          states.set(key, options.step(state, argumentsOf(argc, argv, options.numbers ?? false)));
        } catch (error) {
          fail(context, error);
        }
      });
      const xFinal = wasm.installFunction('v(p)', (context) => {
        const key = capi.sqlite3_aggregate_context(context, 0);
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
      return db.pointer !== undefined && capi.sqlite3_get_autocommit(db.pointer) === 0;
    },
    get isMemory() {
      const file = capi.sqlite3_db_filename(handle(), 'main');
      return file === null || file === '';
    },
    get isReadonly() {
      return capi.sqlite3_db_readonly(handle(), 'main') === 1;
    },
    reentrant: true,
  };
}

function prepareStatement(capi: WasmCapi, wasm: WasmSqlite3['wasm'], db: WasmDatabase, sql: string, running: <T>(work: () => T) => T): Statement {
  const statement = db.prepare(sql);
  const pointer = statement.pointer as number;
  const columns = statement.columnCount;
  const bind = (params: readonly SqlValue[]) => {
    statement.reset(true);
    for (let i = 0; i < params.length; i++) {
      const value = params[i] as SqlValue;
      if (typeof value === 'bigint') capi.sqlite3_bind_int64(pointer, i + 1, value);
      else if (typeof value === 'number') capi.sqlite3_bind_double(pointer, i + 1, value);
      else statement.bind(i + 1, value);
    }
  };
  const row = (): SqlValue[] => {
    const values = new Array<SqlValue>(columns);
    for (let i = 0; i < columns; i++) {
      switch (capi.sqlite3_column_type(pointer, i)) {
        case INTEGER:
          values[i] = capi.sqlite3_column_int64(pointer, i);
          break;
        case FLOAT:
          values[i] = capi.sqlite3_column_double(pointer, i);
          break;
        case TEXT:
          values[i] = capi.sqlite3_column_text(pointer, i);
          break;
        case BLOB: {
          const n = capi.sqlite3_column_bytes(pointer, i);
          const at = capi.sqlite3_column_blob(pointer, i);
          values[i] = n === 0 ? new Uint8Array(0) : wasm.heap8u().slice(at, at + n);
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
        statement.reset();
      }
    });
  const wrapper: Statement = {
    run: (params = []) =>
      once(params, () => {
        while (statement.step());
        return capi.sqlite3_changes(db.pointer as number);
      }),
    get: (params = []) => once(params, () => (statement.step() ? row() : undefined)),
    all: (params = []) =>
      once(params, () => {
        const rows: SqlValue[][] = [];
        while (statement.step()) rows.push(row());
        return rows;
      }),
    iterate: (params = []) => {
      running(() => bind(params));
      return (function* rows() {
        try {
          while (running(() => statement.step())) yield row();
        } finally {
          statement.reset();
        }
      })();
    },
  };
  finalizer.register(wrapper, statement);
  return wrapper;
}
