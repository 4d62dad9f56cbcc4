// Runs the cloudsync_* functions that write to the database after the statement that called them.
//
// better-sqlite3 refuses any statement on a connection while one of its SQL functions runs, so
// `SELECT cloudsync_init('t')` cannot create anything from inside the call. The driver runs each
// user statement inside `capture`: such a function records its work and returns a placeholder;
// when the statement has finished, the work runs in order and the placeholders in the result rows
// are replaced by the real return values. Errors surface from the statement call itself.

import type { SqlValue } from '../codec/value.js';
import { CloudSyncError } from '../engine/errors.js';

const TOKEN_PREFIX = '\u0000cloudsync-deferred:';

/** The queue of deferred calls of the statement being run. */
export class DeferredCalls {
  private depth = 0;
  /** Per running statement (innermost last): it writes by itself, so a placeholder could only be stored. */
  private readonly writing: boolean[] = [];
  private queue: { token: string; work: () => SqlValue }[] = [];
  private counter = 0;

  /** @param reentrant true when SQL functions may run statements directly (no deferral needed). */
  constructor(private readonly reentrant: boolean) {}

  /**
   * Runs `work` now when possible, else records it and returns a placeholder (NULL when the
   * statement writes, or when the caller drops it: `discarded`).
   */
  call(fn: string, work: () => SqlValue, discarded = false): SqlValue {
    if (this.reentrant) return work();
    if (this.depth === 0) {
      throw new CloudSyncError('MISUSE', `${fn}: cannot run here; call it from a top-level statement on the connection passed to load() (not from a trigger, a view or a statement prepared before load())`);
    }
    // In a statement that writes (a trigger's call included) the value could only be stored, never
    // replaced in result rows: NULL, not a placeholder, stands in for it.
    if (discarded || this.writing[this.writing.length - 1] === true) {
      this.queue.push({ token: '', work });
      return null;
    }
    const token = `${TOKEN_PREFIX}${this.counter++}`;
    this.queue.push({ token, work });
    return token;
  }

  /**
   * Runs `method` on `statement` with `args`, then the calls it deferred; returns its result with
   * placeholders replaced by their values, passed through `present` (the binding's own
   * representation of a value). `writes`: the statement itself writes (its deferred calls give NULL).
   */
  capture(method: (...args: unknown[]) => unknown, statement: unknown, args: unknown[], present: (value: SqlValue) => unknown = (value) => value, writes = false): unknown {
    this.depth++;
    this.writing.push(writes);
    let result: unknown;
    try {
      result = method.apply(statement, args);
    } catch (error) {
      this.depth--;
      this.writing.pop();
      if (this.depth === 0) this.queue = [];
      throw error;
    }
    this.depth--;
    this.writing.pop();
    if (this.depth > 0 || this.queue.length === 0) return result;
    const queue = this.queue;
    this.queue = [];
    const values = new Map<string, unknown>();
    for (const { token, work } of queue) {
      const value = present(work());
      if (token !== '') values.set(token, value);
    }
    return substitute(result, values);
  }
}

function substitute(value: unknown, values: Map<string, unknown>): unknown {
  if (typeof value === 'string') return value.startsWith(TOKEN_PREFIX) && values.has(value) ? values.get(value) : value;
  if (Array.isArray(value)) return value.map((v) => substitute(v, values));
  if (value !== null && typeof value === 'object' && Object.getPrototypeOf(value) === Object.prototype) {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = substitute(v, values);
    return out;
  }
  return value;
}
