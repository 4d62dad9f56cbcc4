// The small, synchronous connection interface the engine needs from a SQLite binding.
// Drivers (src/drivers/) implement it; the engine imports no binding's types.

import type { SqlValue } from '../codec/value.js';

/** A prepared statement whose rows come back as arrays of typed values (INTEGER as bigint). */
export interface Statement {
  /** Runs the statement and returns the number of rows changed. */
  run(params?: readonly SqlValue[]): number;
  /** Returns the first row, or undefined. */
  get(params?: readonly SqlValue[]): SqlValue[] | undefined;
  /** Returns every row. */
  all(params?: readonly SqlValue[]): SqlValue[][];
  /** Yields the rows one by one (cheaper than `all` for large results). */
  iterate(params?: readonly SqlValue[]): IterableIterator<SqlValue[]>;
}

/** Options of a scalar SQL function. */
export interface FunctionOptions {
  /** Same result for the same arguments within a statement (lets SQLite cache it). */
  deterministic?: boolean;
  /** Refuse calls from triggers, views and schema objects. */
  directOnly?: boolean;
}

/** Callbacks of an aggregate SQL function. */
export interface AggregateOptions<State> {
  /** Integers arrive as JS numbers instead of bigint (the caller knows they stay below 2^53). */
  numbers?: boolean;
  /** The state of a new group, made by a call, or `initial` (a value: the binding skips that call). */
  start?: () => State;
  initial?: State;
  step: (state: State, args: SqlValue[]) => State;
  /** The group's result; without it the state is the result (and the binding skips that call). */
  result?: (state: State) => SqlValue;
}

/** What the engine needs from one open SQLite connection. */
export interface Connection {
  /** Runs one or more statements that return nothing. */
  exec(sql: string): void;
  /** Prepares a statement; INTEGER values are read and bound as bigint. */
  prepare(sql: string): Statement;
  /** Registers a variadic scalar function; integers arrive as bigint. */
  registerFunction(name: string, fn: (args: SqlValue[]) => SqlValue, options?: FunctionOptions): void;
  /** Registers a variadic aggregate function. */
  registerAggregate<State>(name: string, options: AggregateOptions<State>): void;
  /** False once the connection is closed. */
  readonly isOpen: boolean;
  /** True while an explicit transaction is open. */
  readonly inTransaction: boolean;
  /** True for an in-memory or temporary database. */
  readonly isMemory: boolean;
  /** True for a connection opened read-only. */
  readonly isReadonly: boolean;
  /** True when a SQL function may itself run statements on this connection. */
  readonly reentrant: boolean;
}
