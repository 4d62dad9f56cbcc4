// Transactions on the PostgreSQL store, and what its errors mean to a client: the store being
// unreachable or restarting is 503 (try again, nothing was applied), a constraint of the app's
// schema is the same error as on the embedded store.

import type { Pool, PoolClient } from 'pg';
import { CloudSyncError } from '../../../engine/errors.js';
import { HttpError } from '../../http-error.js';

/** Runs `work` in a transaction on a connection of the pool; commits when it resolves, rolls back when it throws. */
export async function transaction<T>(pool: Pool, work: (client: PoolClient) => Promise<T>, mode = ''): Promise<T> {
  let client: PoolClient;
  try {
    client = await pool.connect();
  } catch (error) {
    throw storeError(error);
  }
  let broken = false;
  try {
    await client.query(mode ? `BEGIN ISOLATION LEVEL ${mode}` : 'BEGIN');
    const result = await work(client);
    await client.query('COMMIT');
    return result;
  } catch (error) {
    await client.query('ROLLBACK').catch(() => (broken = true));
    throw storeError(error);
  } finally {
    // a connection that cannot even roll back is not given to the next request
    client.release(broken ? true : undefined);
  }
}

/** PostgreSQL's error as the server reports it. */
export function storeError(error: unknown): Error {
  if (error instanceof HttpError || error instanceof CloudSyncError) return error;
  const code = (error as { code?: unknown } | null)?.code;
  const message = error instanceof Error ? error.message : String(error);
  if (typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code)) {
    // SQLSTATE classes: 08 connection, 57 operator intervention (shutdown), 53 resources
    if (/^(08|57|53)/.test(code)) return new HttpError(503, `the PostgreSQL store is unavailable (${message}); try again`);
    // undefined schema or table: the database was dropped (by another node, perhaps)
    if (code === '3F000' || code === '42P01') return new HttpError(404, 'database not found in the PostgreSQL store (dropped?)');
    if (code.startsWith('23')) return new CloudSyncError('CONSTRAINT', `upload: ${message}`, { cause: error });
    if (code.startsWith('22')) return new CloudSyncError('MISMATCH', `upload: ${message}`, { cause: error });
    return error as Error;
  }
  if (typeof code === 'string' && /^E[A-Z]+$/.test(code)) return new HttpError(503, `the PostgreSQL store is unreachable (${message}); try again`);
  if (/Connection terminated|connection timeout|Client has encountered a connection error/i.test(message)) return new HttpError(503, `the PostgreSQL store is unavailable (${message}); try again`);
  return error instanceof Error ? error : new Error(message);
}

/** The pool, with the errors of its queries and connects as the server reports them. */
export function guardPool(pool: Pool): Pool {
  const guard =
    <A extends unknown[], R>(call: (...args: A) => Promise<R>) =>
    async (...args: A): Promise<R> => {
      try {
        return await call(...args);
      } catch (error) {
        throw storeError(error);
      }
    };
  return new Proxy(pool, {
    get(target, property) {
      if (property === 'query') return guard(target.query.bind(target) as (...args: unknown[]) => Promise<unknown>);
      if (property === 'connect') return guard(target.connect.bind(target) as () => Promise<PoolClient>);
      const value: unknown = Reflect.get(target, property, target);
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
    },
  });
}
