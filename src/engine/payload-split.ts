// Splitting a stream of changes into payloads of bounded size, each with the position of its last
// change (the watermark a receiver keeps after applying it).

import { type EncodeOptions, PayloadEncoder } from '../codec/payload.js';
import type { ChangeSink, CollectedChanges } from './changes.js';

/** One payload of a split encode, with the position of its last change. */
export interface EncodedPayload {
  payload: Uint8Array;
  count: number;
  last: { dbVersion: number; seq: number };
}

/** How to split: the payload options and the size limit of one body. */
export type SplitOptions = EncodeOptions & { maxBytes?: number };

const DEFAULT_MAX_BYTES = 5 * 1024 * 1024;

/**
 * Encodes the changes that `visit` produces, in order, into payloads of about `maxBytes`
 * (uncompressed body). A payload ends at a db_version boundary once it holds half of `maxBytes`,
 * and anywhere once it holds `maxBytes` (so one huge transaction still splits); a row larger than
 * the limit travels alone.
 */
export function splitPayloads(visit: (sink: ChangeSink, begin: (count: number) => void) => void, options: SplitOptions): EncodedPayload[] {
  const splitter = new PayloadSplitter(options);
  visit(
    (tbl, pk, colName, colValue, colVersion, dbVersion, siteId, cl, seq) => {
      splitter.next(dbVersion).addRow(tbl, pk, colName, colValue, colVersion, dbVersion, siteId, cl, seq);
      splitter.added(dbVersion, seq);
    },
    (count) => splitter.expect(count),
  );
  return splitter.finish();
}

/** Encodes collected changes, in order, into payloads split as splitPayloads does. */
export function splitCollected(collected: CollectedChanges, options: SplitOptions): EncodedPayload[] {
  const splitter = new PayloadSplitter(options);
  splitter.expect(collected.length);
  for (let j = 0; j < collected.length; j++) {
    const dbVersion = collected.dbVersionAt(j);
    collected.encodeInto(splitter.next(dbVersion), j);
    splitter.added(dbVersion, collected.seqAt(j));
  }
  return splitter.finish();
}

/** The payload being filled and the ones already closed. */
class PayloadSplitter {
  private readonly maxBytes: number;
  private readonly out: EncodedPayload[] = [];
  private encoder: PayloadEncoder | null = null;
  private lastDbVersion = 0;
  private lastSeq = 0;
  // Changes not yet encoded: sizes each payload's buffer (about 80 bytes a change) instead of
  // reserving the whole limit for a payload of one change.
  private remaining = 0;

  constructor(private readonly options: SplitOptions) {
    this.maxBytes = options.maxBytes ?? DEFAULT_MAX_BYTES;
  }

  /** Says how many changes are coming. */
  expect(count: number): void {
    this.remaining = count;
  }

  /** The encoder for the next change, at `dbVersion`: a new one when the current payload is full. */
  next(dbVersion: number): PayloadEncoder {
    const size = this.encoder?.bodySize ?? 0;
    if (size >= this.maxBytes || (size >= this.maxBytes / 2 && dbVersion !== this.lastDbVersion)) this.close();
    this.encoder ??= new PayloadEncoder({ ...this.options, sizeHint: Math.min(this.maxBytes * 2, this.remaining * 80 + 1024, 64 * 1024 * 1024) });
    return this.encoder;
  }

  /** Records the position of the change just added. */
  added(dbVersion: number, seq: number): void {
    this.remaining--;
    this.lastDbVersion = dbVersion;
    this.lastSeq = seq;
  }

  /** Closes the last payload and returns them all. */
  finish(): EncodedPayload[] {
    this.close();
    return this.out;
  }

  private close(): void {
    const encoder = this.encoder;
    if (encoder === null || encoder.count === 0) return;
    this.out.push({ payload: encoder.finish(), count: encoder.count, last: { dbVersion: this.lastDbVersion, seq: this.lastSeq } });
    this.encoder = null;
  }
}
