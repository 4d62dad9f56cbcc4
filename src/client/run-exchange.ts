// Drivers of protocol exchanges: one blocks (for SQL functions), one awaits (for the TypeScript API).

import type { AsyncTransport, BlockingTransport, HttpResponse, RequestOptions } from './http-transport.js';
import type { Exchange, SyncPhase } from './protocol.js';

/** Observers of a running exchange. */
export interface RunOptions {
  timeoutMs: number;
  /** Called before each request with its phase. */
  onRequest?: (phase: SyncPhase) => void;
  /** Called as response bytes arrive (async only). */
  onBytes?: (phase: SyncPhase, received: number, total: number | null) => void;
}

/** Runs an exchange to the end on this thread, blocking on each request. */
export function runBlocking<T>(exchange: Exchange<T>, transport: BlockingTransport, options: RunOptions): T {
  let answer: HttpResponse | undefined;
  for (;;) {
    const next = exchange.next(answer);
    if (next.done) return next.value;
    const step = next.value;
    answer = undefined;
    if (step.kind === 'sleep') {
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, step.ms);
      continue;
    }
    options.onRequest?.(step.phase);
    answer = transport(step.request, { timeoutMs: options.timeoutMs });
  }
}

/** Runs an exchange to the end, awaiting each request. */
export async function runAsync<T>(exchange: Exchange<T>, transport: AsyncTransport, options: RunOptions): Promise<T> {
  let answer: HttpResponse | undefined;
  for (;;) {
    const next = exchange.next(answer);
    if (next.done) return next.value;
    const step = next.value;
    answer = undefined;
    if (step.kind === 'sleep') {
      await new Promise((resolve) => setTimeout(resolve, step.ms));
      continue;
    }
    options.onRequest?.(step.phase);
    const phase = step.phase;
    const requestOptions: RequestOptions = { timeoutMs: options.timeoutMs };
    if (options.onBytes) requestOptions.onBytes = (received, total) => options.onBytes?.(phase, received, total);
    answer = await transport(step.request, requestOptions);
  }
}
