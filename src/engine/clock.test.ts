import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Clock } from './clock.js';
import { FRESH_SEQ_LIMIT } from './row-clocks.js';

const parts = (clock: number | bigint) => [Number(BigInt(clock) / BigInt(FRESH_SEQ_LIMIT)), Number(BigInt(clock) % BigInt(FRESH_SEQ_LIMIT))];

test('a log clock reserves its seqs in the transaction\'s db_version, and goes on at the next version when they run out, without an error', () => {
  const clock = new Clock();
  clock.reset(41);
  assert.deepEqual(parts(clock.takeLogClock(5)), [42, 0]);
  assert.deepEqual(parts(clock.takeLogClock(5)), [42, 5]);
  clock.takeSeq(FRESH_SEQ_LIMIT - 13); // the transaction has used all but 3 seqs of version 42
  assert.deepEqual(parts(clock.takeLogClock(5)), [43, 0]);
  assert.deepEqual(parts(clock.takeLogClock(1)), [43, 5]);
  clock.endTransaction();
  assert.equal(clock.current, 43);
  assert.deepEqual(parts(clock.takeLogClock(1)), [44, 0]);
});

test('a log clock past 2^23 versions is a bigint with the same parts', () => {
  const clock = new Clock();
  clock.reset(2 ** 40);
  const value = clock.takeLogClock(3);
  assert.equal(typeof value, 'bigint');
  assert.deepEqual(parts(value), [2 ** 40 + 1, 0]);
});
