// Types of postgres.mjs, for the tests that start a cluster of their own.

/** A throwaway cluster, or why none started. */
export type StartedPostgres =
  | { url: string; stop(): void; halt(): void; start(): void; skip?: undefined }
  | { skip: string };

export function startPostgres(options?: { durable?: boolean }): Promise<StartedPostgres>;
