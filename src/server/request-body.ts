// Reading request bodies with a size limit: 413 as soon as the limit is passed, before buffering more.

import type { IncomingMessage } from 'node:http';
import { HttpError } from './http-error.js';

/** Reads the whole body, refusing more than `maxBytes` (checked against Content-Length first). */
export async function readBody(request: IncomingMessage, maxBytes: number): Promise<Buffer> {
  const declared = Number(request.headers['content-length']);
  if (Number.isFinite(declared) && declared > maxBytes) throw new HttpError(413, `the upload is larger than the server's limit of ${maxBytes} bytes`);
  const parts: Buffer[] = [];
  let size = 0;
  for await (const chunk of request) {
    const part = chunk as Buffer;
    size += part.length;
    if (size > maxBytes) throw new HttpError(413, `the upload is larger than the server's limit of ${maxBytes} bytes`);
    parts.push(part);
  }
  if (Number.isFinite(declared) && size !== declared) throw new HttpError(400, `the upload ended after ${size} of ${declared} bytes`);
  return Buffer.concat(parts, size);
}
