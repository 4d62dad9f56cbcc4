import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { clocksAfterUpdate, freshClocksAfterUpdate, type WriteTime } from './local-writes.js';
import { FRESH_SEQ_LIMIT, readRowClocks, writeRowClocks } from './row-clocks.js';

describe('the fast path of an update on fresh clocks', () => {
  it('gives exactly the text of the general path, seq numbers included', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 2 ** 22 }),
        fc.integer({ min: 0, max: 1000 }),
        fc.array(fc.boolean(), { minLength: 0, maxLength: 40 }),
        fc.integer({ min: 0, max: 2 ** 22 }),
        fc.integer({ min: 0, max: 1000 }),
        (dbVersion, firstSeq, changed, now, nextSeq) => {
          const stored = dbVersion * FRESH_SEQ_LIMIT + firstSeq;
          const time = (): WriteTime => {
            let seq = nextSeq;
            return { dbVersion: now, takeSeq: () => seq++ };
          };
          const fast = freshClocksAfterUpdate(stored, changed.length, changed, time());
          const general = writeRowClocks(clocksAfterUpdate(readRowClocks(BigInt(stored), changed.length), changed.length, changed, time()));
          assert.equal(fast, general);
        },
      ),
    );
  });
});
