// The flat reader of the clocks TEXT form agrees with JSON on every well-formed and malformed text.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { formatClockParts, PART_SIZE, parseClockText } from './clock-text.js';

/** What the text means by the definition: a decimal, then a JSON array of null or 4 safe naturals. */
function parseByJson(text: string, partCount: number): number[] | null {
  const open = text.indexOf('[');
  if (open < 1 || !/^[0-9]+\[[\[\],0-9nul]*$/.test(text)) return null; // digits, brackets, commas and null only
  let parts: unknown;
  try {
    parts = JSON.parse(text.slice(open));
  } catch {
    return null;
  }
  if (!Array.isArray(parts) || parts.length === 0) return null;
  const out: number[] = [];
  for (const part of parts) {
    if (part === null) out.push(-1, 0, 0, 0);
    else if (Array.isArray(part) && part.length === 4 && part.every((n) => Number.isSafeInteger(n) && n >= 0 && !Object.is(n, -0))) out.push(...(part as number[]));
    else return null;
  }
  while (out.length < partCount * PART_SIZE) out.push(-1, 0, 0, 0);
  return out.slice(0, partCount * PART_SIZE);
}

function parseFlat(text: string, partCount: number): number[] | null {
  const out = new Float64Array(partCount * PART_SIZE);
  if (!parseClockText(text, partCount, out)) return null;
  const values = Array.from(out);
  for (let p = 0; p < partCount; p++) if ((values[p * PART_SIZE] as number) < 0) values.splice(p * PART_SIZE, PART_SIZE, -1, 0, 0, 0);
  return values;
}

const part = fc.option(fc.tuple(fc.nat(), fc.nat(), fc.nat(), fc.nat({ max: 1000 })), { nil: null });
const wellFormed = fc.array(part, { minLength: 1, maxLength: 12 }).map((parts) => `${fc.sample(fc.nat(), 1)[0]}${JSON.stringify(parts)}`);

test('well-formed texts read as JSON reads them, for any part count', () => {
  fc.assert(
    fc.property(wellFormed, fc.integer({ min: 1, max: 14 }), (text, partCount) => {
      assert.deepEqual(parseFlat(text, partCount), parseByJson(text, partCount));
    }),
  );
});

test('mutated texts are refused exactly when JSON refuses them', () => {
  const mutation = fc.tuple(wellFormed, fc.nat(), fc.constantFrom('', '0', '9', '-', '.', ',', '[', ']', 'null', 'n', ' ', '1e3', '00', '"', '99999999999999999'), fc.nat({ max: 3 }));
  fc.assert(
    fc.property(mutation, ([text, at, insert, remove]) => {
      const i = at % (text.length + 1);
      const mutated = text.slice(0, i) + insert + text.slice(i + remove);
      assert.deepEqual(parseFlat(mutated, 6), parseByJson(mutated, 6), mutated);
    }),
    { numRuns: 3000 },
  );
});

test('formatting writes the newest db_version first and reads back', () => {
  const parts = new Float64Array([-1, 0, 0, 0, 2, 9, 3, 0, 1, 5, 0, 1]);
  const text = formatClockParts(parts, 3);
  assert.equal(text, '9[null,[2,9,3,0],[1,5,0,1]]');
  const back = new Float64Array(12);
  assert.equal(parseClockText(text, 3, back), true);
  assert.deepEqual(Array.from(back.subarray(4)), Array.from(parts.subarray(4)));
});
