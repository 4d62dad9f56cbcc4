// The better-sqlite3 driver: implements the engine's Connection and instruments the user's
// Database object so that transaction ends are seen and deferred cloudsync_* calls run.

import type BetterSqlite3 from 'better-sqlite3';
import type { SqlValue } from '../codec/value.js';
import type { AggregateOptions, Connection, FunctionOptions, Statement } from '../engine/connection.js';
import { mayChangeViews } from '../engine/transactions.js';
import { mayAlter } from '../sql/alter-statements.js';
import type { AnsweredStatement } from '../sql/encode-statement.js';
import { splitStatements } from '../sql/split-statements.js';

type Database = BetterSqlite3.Database;
type AnyStatement = BetterSqlite3.Statement<unknown[], unknown>;

/** What the instrumented Database reports around each user statement. */
export interface StatementHooks {
  /**
   * Before a statement runs (`readsChanges`: its SQL names cloudsync_changes; `lookFirst`: catch up
   * with other connections beforehand, for a statement that calls cloudsync_* or that writes
   * and cannot be run again after a failure that `retry` accepts).
   */
  before(readsChanges: boolean, lookFirst: boolean): void;
  /** True when `sql` reads cloudsync_changes, by its name or through a view over it. */
  readsChanges(sql: string): boolean;
  /** A statement answered by a call instead of SQLite (same parameters, same result column), or null. */
  answer(sql: string): AnsweredStatement | null;
  /** After a statement that may have created or dropped a view. */
  viewsChanged(): void;
  /** Before SQL that may hold an ALTER TABLE runs: throws to refuse it. */
  checkAlter(sql: string): void;
  /** After a statement failed: true when the hooks caught up with the cause, so that running it once more can succeed. */
  retry(error: unknown): boolean;
  /** Runs `method` on `statement`, then any work it deferred; `present` converts the deferred results. */
  capture(method: (...args: unknown[]) => unknown, statement: unknown, args: unknown[], present: (value: SqlValue) => unknown, writes: boolean): unknown;
  /** After a statement or a transaction function finished. */
  after(): void;
}

const instrumented = new WeakSet<object>();

/** Wraps a better-sqlite3 Database as the engine's Connection (using its original methods). */
export function createBetterSqlite3Connection(db: Database): Connection {
  const proto = Object.getPrototypeOf(db) as Database;
  const prepare = (sql: string) => proto.prepare.call(db, sql) as AnyStatement;
  return {
    exec: (sql) => void proto.exec.call(db, sql),
    prepare: (sql): Statement => {
      const statement = prepare(sql);
      statement.safeIntegers(true);
      if (statement.reader) statement.raw(true);
      return {
        run: (params = []) => statement.run(...(params as unknown[])).changes,
        get: (params = []) => statement.get(...(params as unknown[])) as SqlValue[] | undefined,
        all: (params = []) => statement.all(...(params as unknown[])) as SqlValue[][],
        iterate: (params = []) => statement.iterate(...(params as unknown[])) as IterableIterator<SqlValue[]>,
      };
    },
    registerFunction: (name, fn, options: FunctionOptions = {}) => {
      db.function(name, { varargs: true, safeIntegers: true, deterministic: options.deterministic ?? false, directOnly: options.directOnly ?? false }, (...args: unknown[]) =>
        fn(args as SqlValue[]),
      );
    },
    registerAggregate: <State>(name: string, options: AggregateOptions<State>) => {
      const { start, result } = options;
      db.aggregate(name, {
        varargs: true,
        safeIntegers: !(options.numbers ?? false),
        start: start === undefined ? options.initial : () => start(),
        step: (state: State, ...args: unknown[]) => options.step(state, args as SqlValue[]),
        ...(result === undefined ? {} : { result: (state: State) => result(state) }),
      });
    },
    get isOpen() {
      return db.open;
    },
    get inTransaction() {
      return db.inTransaction;
    },
    get isMemory() {
      return db.memory;
    },
    get isReadonly() {
      return db.readonly;
    },
    reentrant: false,
  };
}

/** Throws when load() already instrumented this Database instance. */
export function refuseInstrumented(db: Database): void {
  if (instrumented.has(db)) throw new Error('sqlite-sync: load() was already called on this connection');
}

/** Patches prepare, exec and transaction of this Database instance to report to `hooks`. */
export function instrumentBetterSqlite3(db: Database, hooks: StatementHooks): void {
  refuseInstrumented(db);
  instrumented.add(db);
  const proto = Object.getPrototypeOf(db) as Database;
  // better-sqlite3 cannot tell whether a statement reads integers as bigint: track it.
  let defaultSafe = false;
  const safe = new WeakMap<AnyStatement, boolean>();
  Object.defineProperty(db, 'defaultSafeIntegers', {
    configurable: true,
    value: (toggle = true) => {
      defaultSafe = toggle;
      proto.defaultSafeIntegers.call(db, toggle);
      return db;
    },
  });
  const presenter = (statement: AnyStatement) => (value: SqlValue) => {
    if (typeof value === 'bigint' && !(safe.get(statement) ?? false)) return Number(value);
    if (value instanceof Uint8Array && !Buffer.isBuffer(value)) return Buffer.from(value.buffer, value.byteOffset, value.byteLength);
    return value;
  };

  const wrapStatement = (statement: AnyStatement): AnyStatement => {
    safe.set(statement, defaultSafe);
    const safeIntegers = statement.safeIntegers;
    Object.defineProperty(statement, 'safeIntegers', {
      configurable: true,
      value: function (this: AnyStatement, toggle = true) {
        safe.set(statement, toggle);
        return safeIntegers.call(this, toggle);
      },
    });
    const present = presenter(statement);
    const readsChanges = hooks.readsChanges(statement.source);
    const callsCloudsync = /cloudsync_/i.test(statement.source);
    const readonly = statement.readonly;
    const touchesViews = !readonly && mayChangeViews(statement.source);
    const alters = !readonly && mayAlter(statement.source);
    for (const method of ['run', 'get', 'all'] as const) {
      const original = statement[method] as (...args: unknown[]) => unknown;
      Object.defineProperty(statement, method, {
        configurable: true,
        value: function (this: AnyStatement, ...args: unknown[]) {
          if (alters) hooks.checkAlter(statement.source);
          hooks.before(readsChanges, callsCloudsync);
          try {
            return hooks.capture(original, this, args, present, !readonly);
          } catch (error) {
            // A failed statement left nothing behind (SQLite undoes it), so it can run again.
            if (!hooks.retry(error)) throw error;
            return hooks.capture(original, this, args, present, !readonly);
          } finally {
            if (touchesViews) hooks.viewsChanged();
            hooks.after();
          }
        },
      });
    }
    const iterate = statement.iterate as (...args: unknown[]) => IterableIterator<unknown>;
    Object.defineProperty(statement, 'iterate', {
      configurable: true,
      value: function* (this: AnyStatement, ...args: unknown[]) {
        hooks.before(readsChanges, callsCloudsync || !readonly);
        try {
          yield* iterate.apply(this, args);
        } catch (error) {
          // rows may have been yielded already: catch up (so that a second call works), do not rerun
          hooks.retry(error);
          throw error;
        } finally {
          hooks.after();
        }
      },
    });
    return statement;
  };

  // The user's statement becomes `SELECT ? AS <column>`, run with the answer; a second statement
  // made of the user's parameters binds the user's arguments exactly as SQLite would (their count,
  // their names, bind()), and gives the values the answer is computed from.
  const answerStatement = (sql: string, answered: AnsweredStatement): AnyStatement => {
    const statement = proto.prepare.call(db, `SELECT ? AS "${answered.column.replaceAll('"', '""')}"`) as AnyStatement;
    const parameters = proto.prepare.call(db, `SELECT ${answered.parameters.length > 0 ? answered.parameters.join(', ') : 'NULL'}`) as AnyStatement;
    parameters.raw(true);
    parameters.safeIntegers(true);
    const answer = (args: unknown[]) => {
      const values = parameters.get(...args) as SqlValue[];
      return answered.answer(answered.parameters.length > 0 ? values : []);
    };
    Object.defineProperty(statement, 'bind', {
      configurable: true,
      value: function (this: AnyStatement, ...args: unknown[]) {
        parameters.bind(...args);
        return this;
      },
    });
    for (const method of ['run', 'get', 'all'] as const) {
      const original = statement[method] as (...args: unknown[]) => unknown;
      Object.defineProperty(statement, method, {
        configurable: true,
        value: function (this: AnyStatement, ...args: unknown[]) {
          hooks.before(false, true);
          try {
            return original.call(this, answer(args));
          } finally {
            hooks.after();
          }
        },
      });
    }
    const iterate = statement.iterate as (...args: unknown[]) => IterableIterator<unknown>;
    Object.defineProperty(statement, 'iterate', {
      configurable: true,
      value: function* (this: AnyStatement, ...args: unknown[]) {
        hooks.before(false, true);
        try {
          yield* iterate.call(this, answer(args));
        } finally {
          hooks.after();
        }
      },
    });
    // `source` cannot be redefined on a statement: a proxy reports the user's SQL and forwards the
    // rest (its target is an empty object of the statement's class, so that instanceof holds and
    // no property of its own is pinned); methods that return the statement (pluck, raw, bind…)
    // return the proxy.
    const proxy = new Proxy(Object.create(Object.getPrototypeOf(statement) as object) as AnyStatement, {
      get: (_, key) => {
        if (key === 'source') return sql;
        const value = Reflect.get(statement, key, statement) as unknown;
        if (typeof value !== 'function') return value;
        return (...args: unknown[]) => {
          const result = (value as (...args: unknown[]) => unknown).apply(statement, args);
          return result === statement ? proxy : result;
        };
      },
    });
    return proxy;
  };

  const prepare = (sql: string) => {
    const answered = hooks.answer(sql);
    return answered === null ? wrapStatement(proto.prepare.call(db, sql) as AnyStatement) : answerStatement(sql, answered);
  };
  Object.defineProperty(db, 'prepare', { configurable: true, value: prepare });
  Object.defineProperty(db, 'exec', {
    configurable: true,
    value: (sql: string) => {
      // A text that calls cloudsync_* runs statement by statement: the calls are deferred per statement.
      if (!/cloudsync_/i.test(sql)) {
        if (mayAlter(sql)) hooks.checkAlter(sql);
        // Outside a transaction each statement of the text commits on its own: the engine must see
        // each one end, or two of them would share a db_version that another connection's commit
        // between them could have passed. Inside one, the text runs whole.
        const texts = db.inTransaction || !sql.includes(';') ? [sql] : splitStatements(sql);
        for (const text of texts.length > 0 ? texts : [sql]) {
          hooks.before(hooks.readsChanges(text), true);
          try {
            proto.exec.call(db, text);
          } catch (error) {
            // Caught up either way; runs again only a text of one statement (with more, the earlier
            // ones have run), else the caller may run it again.
            if (!hooks.retry(error) || (texts.length === 1 && splitStatements(text).length !== 1)) throw error;
            proto.exec.call(db, text);
          } finally {
            if (mayChangeViews(text)) hooks.viewsChanged();
            hooks.after();
          }
        }
        return db;
      }
      for (const text of splitStatements(sql)) {
        const statement = prepare(text);
        if (statement.reader) statement.all();
        else statement.run();
      }
      return db;
    },
  });
  Object.defineProperty(db, 'transaction', {
    configurable: true,
    value: (fn: (...args: unknown[]) => unknown) => {
      const transaction = proto.transaction.call(db, fn) as BetterSqlite3.Transaction<(...args: unknown[]) => unknown>;
      const wrap = (variant: (...args: unknown[]) => unknown) =>
        function (this: unknown, ...args: unknown[]) {
          try {
            return variant.apply(this, args);
          } finally {
            hooks.after();
          }
        };
      const wrapped = wrap(transaction) as BetterSqlite3.Transaction<(...args: unknown[]) => unknown>;
      for (const variant of ['deferred', 'immediate', 'exclusive'] as const) {
        Object.defineProperty(wrapped, variant, { value: wrap(transaction[variant]) });
      }
      Object.defineProperty(wrapped, 'default', { value: wrapped });
      Object.defineProperty(wrapped, 'database', { value: db, enumerable: true });
      return wrapped;
    },
  });
}
