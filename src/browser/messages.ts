// The messages between a page and the worker that owns its database: requests with an id, the
// answer to each, and events the worker sends on its own (sync status, progress, changed tables).

/** What the page asks; `method` names a worker method, `args` its arguments (structured-clonable). */
export interface WorkerRequest {
  id: number;
  method: string;
  args: unknown[];
  /** Set by the owner tab on another tab's SQL: run it once for this key (see request-records.ts). */
  once?: string;
}

/** An error as it crosses to the page: the class name, the code and the message. */
export interface WorkerFailure {
  name: string;
  code: string | null;
  message: string;
  status: number | null;
}

/** The answer to one request. */
export type WorkerResponse = { id: number; result: unknown } | { id: number; error: WorkerFailure };

/** Events: the network client's status and progress, and the user tables a commit or a merge changed. */
export type WorkerEvent =
  | { event: 'status'; status: string; error: WorkerFailure | null }
  | { event: 'progress'; progress: unknown }
  | { event: 'live'; state: string; error: WorkerFailure | null }
  | { event: 'changed'; tables: string[] };

/** How the page opens its database. */
export interface OpenOptions {
  /** The database's name, a file in the origin's private file system (default 'app.db'). */
  name?: string;
  /** 'opfs' (default): persisted in the origin private file system; 'memory': gone on reload. */
  storage?: 'opfs' | 'memory';
  /** Network client options. */
  timeoutMs?: number;
}

/** Serializes an error for the page. */
export function failureOf(error: unknown): WorkerFailure {
  const e = error as { name?: unknown; code?: unknown; message?: unknown; status?: unknown };
  return {
    name: typeof e?.name === 'string' ? e.name : 'Error',
    code: typeof e?.code === 'string' ? e.code : null,
    message: typeof e?.message === 'string' ? e.message : String(error),
    status: typeof e?.status === 'number' ? e.status : null,
  };
}
