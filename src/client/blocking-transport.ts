// The blocking transport behind the cloudsync_network_* SQL functions. A SQL function must return
// synchronously, so one worker thread per process does the fetch while the calling thread sleeps
// in Atomics.wait; the answer is then taken with receiveMessageOnPort, without the event loop.

import { MessageChannel, receiveMessageOnPort, Worker } from 'node:worker_threads';
import { redact, transportError } from './fetch-transport.js';
import type { BlockingTransport, HttpRequest, HttpResponse, RequestOptions } from './http-transport.js';
import { NetworkError } from './network-error.js';

/** What the worker posts back. */
type Reply = { status: number; body: Uint8Array } | { error: { name: string; message: string; cause?: string } };

// Plain JavaScript, run with `eval: true`, so it needs no file next to the compiled code.
const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
parentPort.on('message', async ({ request, timeoutMs, port, flag }) => {
  let reply;
  try {
    const response = await fetch(request.url, {
      method: request.method, headers: request.headers, body: request.body, signal: AbortSignal.timeout(timeoutMs),
    });
    reply = { status: response.status, body: new Uint8Array(await response.arrayBuffer()) };
  } catch (error) {
    reply = { error: { name: String(error && error.name), message: String(error && error.message), cause: error && error.cause ? String(error.cause.message || error.cause) : undefined } };
  }
  port.postMessage(reply);
  port.close();
  Atomics.store(flag, 0, 1);
  Atomics.notify(flag, 0);
});
`;

let worker: Worker | null = null;

/** Sends one request from a worker thread and blocks this thread until the answer or the timeout. */
export const blockingTransport: BlockingTransport = (request: HttpRequest, options: RequestOptions): HttpResponse => {
  worker ??= startWorker();
  const flag = new Int32Array(new SharedArrayBuffer(4));
  const { port1, port2 } = new MessageChannel();
  try {
    worker.postMessage({ request, timeoutMs: options.timeoutMs, port: port2, flag }, [port2]);
    // The worker enforces the timeout itself; the extra second covers a worker that hangs.
    if (Atomics.wait(flag, 0, 0, options.timeoutMs + 1000) === 'timed-out') {
      throw new NetworkError('TIMEOUT', `${request.method} ${redact(request.url)} timed out after ${options.timeoutMs} ms`);
    }
    const message = receiveMessageOnPort(port1);
    if (!message) throw new NetworkError('PROTOCOL', 'the network worker finished without an answer');
    const reply = message.message as Reply;
    if ('error' in reply) {
      const error = Object.assign(new Error(reply.error.message), { name: reply.error.name }, reply.error.cause ? { cause: new Error(reply.error.cause) } : {});
      throw transportError(request, error, options.timeoutMs);
    }
    return { status: reply.status, body: reply.body };
  } finally {
    port1.close();
  }
};

function startWorker(): Worker {
  const started = new Worker(WORKER_SOURCE, { eval: true });
  started.unref(); // never keeps the process alive: it only works while a caller waits for it
  started.on('error', () => {
    worker = null;
  });
  started.on('exit', () => {
    worker = null;
  });
  return started;
}
