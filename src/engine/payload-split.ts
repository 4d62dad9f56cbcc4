// Splitting a stream of changes into payloads of bounded size, each with the position of its last
// change (the watermark a receiver keeps after applying it).

import { type EncodeOptions, PayloadEncoder } from '../codec/payload.js';
import type { ChangeSink } from './changes.js';

/** One payload of a split encode, with the position of its last change. */
export interface EncodedPayload {
  payload: Uint8Array;
  count: number;
  last: { dbVersion: number; seq: number };
}

const DEFAULT_MAX_BYTES = 5 * 1024 * 1024;

/**
 * Encodes the changes that `visit` produces, in order, into payloads of about `maxBytes`
 * (uncompressed body). A payload ends at a db_version boundary once it holds half of `maxBytes`,
 * and anywhere once it holds `maxBytes` (so one huge transaction still splits); a row larger than
 * the limit travels alone.
 */
export function splitPayloads(
  visit: (sink: ChangeSink, begin: (count: number) => void) => void,
  options: EncodeOptions & { maxBytes?: number },
): EncodedPayload[] {
  const maxBytes = options.maxBytes ?? DEFAULT_MAX_BYTES;
  const out: EncodedPayload[] = [];
  let encoder: PayloadEncoder | null = null;
  let lastDbVersion = 0;
  let lastSeq = 0;
  // Changes not yet encoded: sizes each payload's buffer (about 80 bytes a change) instead of
  // reserving the whole limit for a payload of one change.
  let remaining = 0;
  const close = () => {
    if (encoder === null || encoder.count === 0) return;
    out.push({ payload: encoder.finish(), count: encoder.count, last: { dbVersion: lastDbVersion, seq: lastSeq } });
    encoder = null;
  };
  visit(
    (tbl, pk, colName, colValue, colVersion, dbVersion, siteId, cl, seq) => {
      const size = (encoder as PayloadEncoder | null)?.bodySize ?? 0;
      if (size >= maxBytes || (size >= maxBytes / 2 && dbVersion !== lastDbVersion)) close();
      encoder ??= new PayloadEncoder({ ...options, sizeHint: Math.min(maxBytes * 2, remaining * 80 + 1024, 64 * 1024 * 1024) });
      remaining--;
      encoder.addRow(tbl, pk, colName, colValue, colVersion, dbVersion, siteId, cl, seq);
      lastDbVersion = dbVersion;
      lastSeq = seq;
    },
    (count) => (remaining = count),
  );
  close();
  return out;
}
