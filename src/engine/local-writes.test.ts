import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { clocksAfterUpdate, freshClocksAfterUpdate, textClocksAfterUpdate, type WriteTime } from './local-writes.js';
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

describe('the text path of an update', () => {
  const clock = fc.record({ version: fc.nat({ max: 2 ** 40 }), dbVersion: fc.nat({ max: 2 ** 40 }), seq: fc.nat({ max: 2 ** 30 }), site: fc.nat({ max: 300 }) });
  it('gives exactly the text of the general path, absent cells and columns added later included', () => {
    fc.assert(
      fc.property(
        fc.option(clock, { nil: null }),
        fc.array(fc.option(clock, { nil: null }), { maxLength: 40 }),
        fc.array(fc.boolean(), { maxLength: 45 }),
        fc.integer({ min: 0, max: 2 ** 40 }),
        (sentinel, cells, changed, now) => {
          const stored = writeRowClocks({ sentinel, cells });
          const cellCount = changed.length;
          const time = (): WriteTime => {
            let seq = 7;
            return { dbVersion: now, takeSeq: () => seq++ };
          };
          const text = textClocksAfterUpdate(stored, cellCount, changed, time());
          const general = writeRowClocks(clocksAfterUpdate(readRowClocks(stored, cellCount), cellCount, changed, time()));
          assert.equal(text, general);
        },
      ),
    );
  });
  it('refuses corrupt clocks', () => {
    assert.throws(() => textClocksAfterUpdate('1[null,[1,1,0]]', 1, [true], { dbVersion: 2, takeSeq: () => 0 }), /corrupt clocks/);
  });
});
