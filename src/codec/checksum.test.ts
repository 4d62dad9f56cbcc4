// FNV-1a 64 and the 48-bit payload checksum against known values and a bigint model.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { unhex } from '../../test/vectors.js';
import { fnv1a64, payloadChecksum } from './checksum.js';

function model(bytes: Uint8Array, seed = 0xcbf29ce484222325n): bigint {
  let h = seed;
  for (const b of bytes) h = ((h ^ BigInt(b)) * 0x100000001b3n) & 0xffffffffffffffffn;
  return h;
}

const text = (s: string) => new TextEncoder().encode(s);

test('fnv1a64 known values', () => {
  assert.equal(fnv1a64(new Uint8Array()), 0xcbf29ce484222325n);
  assert.equal(fnv1a64(text('a')), 0xaf63dc4c8601ec8cn);
  assert.equal(fnv1a64(text('foobar')), 0x85944171f73967e8n);
});

test('payloadChecksum of a body written by sqlite-sync 1.1.4', () => {
  // Body of a 9-row v2 payload produced by the C extension 1.1.4; its header holds 0x33c97dbe6199.
  const body = unhex(
    'f1070b04746f646f0c05010b0272300b057469746c650b070700fa0d2030090109010c1001a2151fa2707e6197fab0fdcf378e550901090037007f04646f6e6509002f00061b012f005f6e6f7465052e000618022e001b3194005f310901090294000f133194001f012f0006099400163194000f5d00030994001b3294005f320901090394000f133294001f022f0006099400163294000e5d00505509010902',
  );
  assert.equal(payloadChecksum(body), 0x33c97dbe6199);
});

test('property: fnv1a64 matches the bigint model, seeds chain, checksum is its low 48 bits', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 200 }), fc.uint8Array({ maxLength: 50 }), (a, b) => {
      const h = fnv1a64(a);
      assert.equal(h, model(a));
      assert.equal(fnv1a64(b, h), model(Uint8Array.from([...a, ...b])));
      assert.equal(payloadChecksum(a), Number(h & 0xffffffffffffn));
    }),
    { numRuns: 1000 },
  );
});
