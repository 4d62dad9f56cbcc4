// Payload encoding and decoding against the reference payloads, a payload written by the newer
// C release (version 2), strict field validation and round-trip properties.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { fromTyped, hex, loadVectors, toTyped, unhex, type TypedValue } from '../../test/vectors.js';
import { ByteWriter } from './byte-writer.js';
import { payloadChecksum } from './checksum.js';
import { decompressBlock } from './compression.js';
import { decodePayload, decodePayloadHeader, encodePayload, forEachPayloadChange, PayloadEncoder, SENTINEL, type Change } from './payload.js';
import { encodePayloadHeader } from './payload-header.js';
import { encodePk } from './pk.js';
import { writeValue, type SqlValue } from './value.js';
import { codeOf } from '../../test/support/error-code.js';

type Field = 'tbl' | 'pk' | 'col_name' | 'col_value' | 'col_version' | 'db_version' | 'site_id' | 'cl' | 'seq';
type VectorChange = Record<Field, TypedValue>;
interface PayloadVector {
  name: string;
  schema_hash: string;
  site_id: string;
  changes: VectorChange[];
  payload: string;
  compressed: boolean;
}

const vectors = loadVectors<PayloadVector[]>('payloads');

function fromVector(c: VectorChange): Change {
  const text = (v: TypedValue) => fromTyped(v) as string;
  const int = (v: TypedValue) => Number(fromTyped(v) as bigint);
  const colName = fromTyped(c.col_name);
  return {
    tbl: text(c.tbl),
    pk: fromTyped(c.pk) as Uint8Array,
    colName: colName === null ? SENTINEL : (colName as string),
    colValue: fromTyped(c.col_value),
    colVersion: int(c.col_version),
    dbVersion: int(c.db_version),
    siteId: fromTyped(c.site_id) as Uint8Array,
    cl: int(c.cl),
    seq: int(c.seq),
  };
}

function toVector(c: Change): VectorChange {
  const int = (n: number) => toTyped(BigInt(n));
  return {
    tbl: toTyped(c.tbl),
    pk: toTyped(c.pk),
    col_name: toTyped(c.colName),
    col_value: toTyped(c.colValue),
    col_version: int(c.colVersion),
    db_version: int(c.dbVersion),
    site_id: toTyped(c.siteId),
    cl: int(c.cl),
    seq: int(c.seq),
  };
}


/** A raw version-1 payload whose rows are arbitrary values, for malformed-field tests. */
function rawPayload(rows: SqlValue[][], nrows = rows.length, trailing: number[] = []): Uint8Array {
  const w = new ByteWriter();
  for (const row of rows) for (const v of row) writeValue(w, v);
  for (const b of trailing) w.writeByte(b);
  const body = w.finish();
  const out = new Uint8Array(32 + body.length);
  encodePayloadHeader({ version: 1, libVersion: [0, 8, 12], expandedSize: 0, ncols: 9, nrows, schemaHash: 7n, checksum: null }, out);
  out.set(body, 32);
  return out;
}

const SITE = unhex('01a2150444097152b91848a949c98426');
const goodRow = (): SqlValue[] => ['t', encodePk(['k']), 'c', 'v', 1n, 2n, SITE, 1n, 0n];

test('payloads.json: every payload decodes into exactly its changes and schema hash', () => {
  assert.ok(vectors.length > 0);
  for (const v of vectors) {
    const { header, changes } = decodePayload(unhex(v.payload));
    assert.equal(header.version, 1, v.name);
    assert.deepEqual(header.libVersion, [0, 8, 12]);
    assert.equal(header.ncols, 9);
    assert.equal(header.nrows, v.changes.length);
    assert.equal(header.schemaHash, BigInt(v.schema_hash));
    assert.equal(header.checksum, null);
    assert.equal(header.expandedSize > 0, v.compressed);
    assert.deepEqual(changes.map(toVector), v.changes, v.name);
  }
});

test('payloads.json: re-encoding gives the reference body byte for byte, and a close LZ4 size', (t) => {
  for (const v of vectors) {
    const reference = unhex(v.payload);
    const changes = v.changes.map(fromVector);
    const options = { schemaHash: BigInt(v.schema_hash), version: 1 as const, libVersion: [0, 8, 12] as [number, number, number] };
    const raw = encodePayload(changes, { ...options, compress: false });
    const referenceHeader = decodePayloadHeader(reference);
    const referenceBody = referenceHeader.expandedSize === 0 ? reference.subarray(32) : decompressBlock(reference.subarray(32), referenceHeader.expandedSize);
    assert.equal(hex(raw.subarray(32)), hex(referenceBody), v.name);
    // Same header except expanded_size (8..11), which says raw here and compressed there.
    assert.equal(hex(raw.subarray(0, 8)), hex(reference.subarray(0, 8)));
    assert.equal(hex(raw.subarray(12, 32)), hex(reference.subarray(12, 32)));

    // Level 1 is the fast parse that matches liblz4's default byte for byte.
    const packed = encodePayload(changes, { ...options, compressionLevel: 1 });
    assert.deepEqual(decodePayload(packed).changes.map(toVector), v.changes);
    assert.equal(decodePayloadHeader(packed).expandedSize, referenceHeader.expandedSize);
    // Below 64 KiB our LZ4 parse happens to be liblz4's (4-byte hash), so the bytes match too.
    if (referenceHeader.expandedSize < 65536) assert.equal(hex(packed), v.payload, `${v.name}: identical LZ4 output`);
    assert.ok(packed.length <= reference.length * 1.1, `${v.name}: ${packed.length} vs ${reference.length} bytes`);
    t.diagnostic(`${v.name}: ${reference.length} B from the reference, ${packed.length} B from us`);
  }
});

test('a version-2 payload written by sqlite-sync 1.1.4 decodes and its checksum verifies', () => {
  const bytes = unhex(
    '434c535902010104000001bc000900000009155791e8f444b65c33c97dbe6199f1070b04746f646f0c05010b0272300b057469746c650b070700fa0d2030090109010c1001a2151fa2707e6197fab0fdcf378e550901090037007f04646f6e6509002f00061b012f005f6e6f7465052e000618022e001b3194005f310901090294000f133194001f012f0006099400163194000f5d00030994001b3294005f320901090394000f133294001f022f0006099400163294000e5d00505509010902',
  );
  const { header, changes } = decodePayload(bytes);
  assert.deepEqual(header, {
    version: 2,
    libVersion: [1, 1, 4],
    expandedSize: 444,
    ncols: 9,
    nrows: 9,
    schemaHash: 1537858227486897756n,
    checksum: 0x33c97dbe6199,
  });
  assert.deepEqual(
    changes.map((c) => [c.colName, c.colValue, c.dbVersion, c.seq]),
    [
      ['title', 'title 0', 1, 0],
      ['done', 0n, 1, 1],
      ['note', null, 1, 2],
      ['title', 'title 1', 2, 0],
      ['done', 1n, 2, 1],
      ['note', null, 2, 2],
      ['title', 'title 2', 3, 0],
      ['done', 2n, 3, 1],
      ['note', null, 3, 2],
    ],
  );
  const copy = bytes.slice();
  copy[40] = copy[40]! ^ 0x10;
  assert.equal(codeOf(() => decodePayload(copy)), 'BAD_CHECKSUM');
});

test('version 2 stores the checksum of the transmitted body', () => {
  const changes = vectors[2]!.changes.map(fromVector);
  for (const compress of [true, false]) {
    const bytes = encodePayload(changes, { schemaHash: 1n, compress });
    const header = decodePayloadHeader(bytes);
    assert.equal(header.version, 2);
    assert.equal(header.checksum, payloadChecksum(bytes.subarray(32)));
    assert.equal(header.expandedSize > 0, compress);
    assert.deepEqual(decodePayload(bytes).changes, decodePayload(encodePayload(changes, { schemaHash: 1n, version: 1 })).changes);
  }
});

test('zero changes give a valid empty payload', () => {
  const bytes = encodePayload([], { schemaHash: 2n ** 64n - 1n });
  assert.equal(bytes.length, 32);
  const { header, changes } = decodePayload(bytes);
  assert.equal(header.nrows, 0);
  assert.equal(header.expandedSize, 0);
  assert.equal(header.schemaHash, 2n ** 64n - 1n);
  assert.deepEqual(changes, []);
});

test('a signed schema hash is stored unsigned', () => {
  assert.equal(decodePayloadHeader(encodePayload([], { schemaHash: -1n })).schemaHash, 2n ** 64n - 1n);
  assert.equal(codeOf(() => encodePayload([], { schemaHash: 2n ** 64n })), 'BAD_VALUE');
  assert.equal(codeOf(() => encodePayload([], { schemaHash: -(2n ** 63n) - 1n })), 'BAD_VALUE');
});

test('PayloadEncoder: add and addRow build the same payload; count and bodySize track rows', () => {
  const changes = vectors[1]!.changes.map(fromVector);
  const a = new PayloadEncoder({ schemaHash: 5n });
  const b = new PayloadEncoder({ schemaHash: 5n });
  for (const c of changes) {
    a.add(c);
    b.addRow(c.tbl, c.pk, c.colName, c.colValue, c.colVersion, c.dbVersion, c.siteId, c.cl, c.seq);
  }
  assert.equal(a.count, changes.length);
  assert.ok(a.bodySize > 0);
  assert.equal(a.bodySize, b.bodySize);
  assert.deepEqual(a.finish(), b.finish());
});

test('PayloadEncoder rejects bad changes and leaves no partial row behind', () => {
  const c = fromVector(vectors[0]!.changes[0]!);
  const e = new PayloadEncoder({ schemaHash: 1n, compress: false });
  e.add(c);
  const size = e.bodySize;
  const bad: [Partial<Change>, string][] = [
    [{ siteId: new Uint8Array(15) }, 'BAD_VALUE'],
    [{ colVersion: -1 }, 'BAD_VALUE'],
    [{ dbVersion: 2 ** 53 }, 'BAD_VALUE'],
    [{ seq: 1.5 }, 'BAD_VALUE'],
    [{ cl: 1n as unknown as number }, 'BAD_TYPE'],
    [{ pk: 'x' as unknown as Uint8Array }, 'BAD_TYPE'],
    [{ colName: 7 as unknown as string }, 'BAD_TYPE'],
    [{ colValue: 2n ** 63n }, 'BAD_VALUE'],
    [{ colValue: undefined as unknown as SqlValue }, 'BAD_TYPE'],
  ];
  for (const [patch, code] of bad) {
    assert.equal(codeOf(() => e.add({ ...c, ...patch })), code, JSON.stringify(Object.keys(patch)));
    assert.equal(e.count, 1);
    assert.equal(e.bodySize, size);
  }
  assert.equal(decodePayload(e.finish()).changes.length, 1);
  assert.equal(codeOf(() => new PayloadEncoder({ schemaHash: 1n, version: 3 as 2 })), 'BAD_VERSION');
  assert.equal(codeOf(() => new PayloadEncoder({ schemaHash: 1n, libVersion: [0, 256, 0] })), 'BAD_VALUE');
});

test('decodePayload checks the header', () => {
  const good = encodePayload([fromVector(vectors[0]!.changes[0]!)], { schemaHash: 1n, version: 1 });
  const patched = (offset: number, bytes: number[]) => {
    const copy = good.slice();
    copy.set(bytes, offset);
    return copy;
  };
  assert.equal(codeOf(() => decodePayload(good.subarray(0, 31))), 'TRUNCATED');
  assert.equal(codeOf(() => decodePayload(patched(0, [0x43, 0x4c, 0x53, 0x58]))), 'BAD_SIGNATURE');
  assert.equal(codeOf(() => decodePayload(patched(4, [3]))), 'BAD_VERSION');
  assert.equal(codeOf(() => decodePayload(patched(4, [0]))), 'BAD_VERSION');
  assert.equal(codeOf(() => decodePayload(patched(12, [0, 8]))), 'BAD_SIZE');
  assert.equal(codeOf(() => decodePayload(patched(14, [0, 0, 0, 2]))), 'BAD_SIZE');
  assert.equal(codeOf(() => decodePayload(patched(14, [0xff, 0xff, 0xff, 0xff]))), 'BAD_SIZE');
  assert.equal(codeOf(() => decodePayload(patched(8, [0xff, 0xff, 0xff, 0xff]))), 'TOO_LARGE');
  const body = good.length - 32;
  assert.equal(codeOf(() => decodePayload(patched(8, [0, 0, 0x10, 0]), { maxExpandedSize: 1000 })), 'TOO_LARGE');
  assert.equal(codeOf(() => decodePayload(patched(8, [0, 0, ((body * 255 + 1) >> 8) & 0xff, (body * 255 + 1) & 0xff]))), 'TOO_LARGE');
  assert.equal(codeOf(() => decodePayload(patched(8, [0, 0, 0, 200]))), 'LZ4'); // the raw body is not an LZ4 block of 200 bytes
});

test('decodePayload validates the nine fields', () => {
  const cases: [SqlValue[], string][] = [
    [['t', encodePk(['k']), 'c', 'v', 1n, 2n, SITE, 1n, 0n], 'no error'],
    [[1n, encodePk(['k']), 'c', 'v', 1n, 2n, SITE, 1n, 0n], 'BAD_TYPE'],
    [[null, encodePk(['k']), 'c', 'v', 1n, 2n, SITE, 1n, 0n], 'BAD_TYPE'],
    [['t', 'k', 'c', 'v', 1n, 2n, SITE, 1n, 0n], 'BAD_TYPE'],
    [['t', encodePk(['k']), new Uint8Array(1), 'v', 1n, 2n, SITE, 1n, 0n], 'BAD_TYPE'],
    [['t', encodePk(['k']), 'c', 'v', 1.0, 2n, SITE, 1n, 0n], 'BAD_TYPE'],
    [['t', encodePk(['k']), 'c', 'v', -1n, 2n, SITE, 1n, 0n], 'BAD_VALUE'],
    [['t', encodePk(['k']), 'c', 'v', 1n, 2n ** 53n, SITE, 1n, 0n], 'BAD_VALUE'],
    [['t', encodePk(['k']), 'c', 'v', 1n, 2n, SITE.subarray(1), 1n, 0n], 'BAD_VALUE'],
    [['t', encodePk(['k']), 'c', 'v', 1n, 2n, 'sixteen-chars-id', 1n, 0n], 'BAD_TYPE'],
    [['t', encodePk(['k']), 'c', 'v', 1n, 2n, SITE, null, 0n], 'BAD_TYPE'],
    [['t', encodePk(['k']), 'c', 'v', 1n, 2n, SITE, 1n, -(2n ** 63n)], 'BAD_VALUE'],
    [['t'.repeat(300), encodePk(['k'.repeat(200)]), 'c'.repeat(130), 'v', 1n, 2n, SITE, 1n, 0n], 'no error'],
  ];
  for (const [row, code] of cases) assert.equal(codeOf(() => decodePayload(rawPayload([row]))), code, JSON.stringify(row.map(String)));
  assert.equal(codeOf(() => decodePayload(rawPayload([goodRow()], 1, [0]))), 'BAD_SIZE');
  assert.equal(codeOf(() => decodePayload(rawPayload([goodRow(), goodRow()], 1))), 'BAD_SIZE');
  assert.equal(codeOf(() => decodePayload(rawPayload([goodRow(), goodRow().slice(0, 8)], 2))), 'TRUNCATED');
});

test('a NULL col_name decodes to the sentinel name; the sentinel is sent as TEXT', () => {
  const row = goodRow();
  row[2] = null;
  row[3] = null;
  const [change] = decodePayload(rawPayload([row])).changes;
  assert.equal(change!.colName, SENTINEL);
  const again = encodePayload([change!], { schemaHash: 7n, version: 1, compress: false });
  assert.ok(hex(again).includes(hex(new TextEncoder().encode(SENTINEL))));
});

test('decoded changes share repeated site ids and primary keys, and own their bytes', () => {
  const changes = vectors[1]!.changes.map(fromVector);
  const bytes = encodePayload(changes, { schemaHash: 1n, compress: false });
  const decoded = decodePayload(bytes).changes;
  assert.ok(decoded.every((c) => c.siteId === decoded[0]!.siteId));
  assert.equal(decoded[0]!.pk, decoded[1]!.pk);
  const before = hex(decoded[0]!.pk);
  bytes.fill(0, 32);
  assert.equal(hex(decoded[0]!.pk), before, 'views point into a private copy of the body');
});

test('forEachPayloadChange visits the rows in order and returns the header', () => {
  const bytes = unhex(vectors[3]!.payload);
  const seen: Change[] = [];
  const header = forEachPayloadChange(bytes, (c) => seen.push(c));
  assert.deepEqual(header, decodePayload(bytes).header);
  assert.deepEqual(seen, decodePayload(bytes).changes);
  // A bad second row is found after the first was visited.
  const row = goodRow();
  const bad = goodRow();
  bad[4] = -1n;
  let visits = 0;
  assert.equal(codeOf(() => forEachPayloadChange(rawPayload([row, bad]), () => visits++)), 'BAD_VALUE');
  assert.equal(visits, 1);
});

const change: fc.Arbitrary<Change> = fc.record({
  tbl: fc.constantFrom('t', 'todo', 'a table', 'ünï'),
  pk: fc.array(fc.oneof(fc.string(), fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n })), { minLength: 1, maxLength: 3 }).map(encodePk),
  colName: fc.constantFrom('a', 'b', 'title', SENTINEL),
  colValue: fc.oneof(
    fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }),
    fc.double(),
    fc.string({ maxLength: 300 }),
    fc.uint8Array({ maxLength: 300 }),
    fc.constant(null),
  ),
  colVersion: fc.nat(),
  dbVersion: fc.maxSafeNat(),
  siteId: fc.constantFrom(SITE, new Uint8Array(16), unhex('ffeeddccbbaa99887766554433221100')),
  cl: fc.nat({ max: 9 }),
  seq: fc.nat(),
});

test('property: payloads round-trip for every version and compression choice', () => {
  fc.assert(
    fc.property(
      fc.array(change, { maxLength: 60 }),
      fc.constantFrom(1 as const, 2 as const),
      fc.boolean(),
      fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
      (changes, version, compress, schemaHash) => {
        const bytes = encodePayload(changes, { schemaHash, version, compress });
        const { header, changes: back } = decodePayload(bytes);
        assert.equal(header.version, version);
        assert.equal(header.schemaHash, schemaHash);
        assert.equal(header.nrows, changes.length);
        assert.deepEqual(back.map(toVector), changes.map(toVector));
      },
    ),
    { numRuns: 300 },
  );
});
