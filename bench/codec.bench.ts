// Encode/decode throughput of payloads for a realistic table: 50,000 rows x 4 columns
// (TEXT, INTEGER, REAL, TEXT), text primary keys like 'id-000123', one site id, table 't';
// then size and speed per LZ4 level on it and on the 'sequential' and 'uuid' tables below.
// Run: npm run bench:codec -- [changes=200000] [rounds=10] [levels=1,2,3,4,5,9]; best rounds.

import { loadavg } from 'node:os';
import { compressBlock, decodePayload, encodePayload, encodePk, forEachPayloadChange, PayloadEncoder, type Change } from '../src/codec/index.js';

const total = Number(process.argv[2] ?? 200_000);
const rounds = Number(process.argv[3] ?? 10);
const levels = (process.argv[4] ?? '1,2,3,4,5,9').split(',').map(Number);
const siteId = Uint8Array.from({ length: 16 }, (_, i) => (i * 37 + 11) & 0xff);
const words = ['alpha', 'bravo', 'charlie', 'delta', 'echo', 'foxtrot', 'golf', 'hotel'];

function makeChanges(n: number): Change[] {
  const changes: Change[] = [];
  const columns = ['title', 'count', 'price', 'note'];
  for (let i = 0; changes.length < n; i++) {
    const pk = encodePk([`id-${String(i).padStart(6, '0')}`]);
    const values = [
      `${words[i % 8]} ${words[(i * 7) % 8]} task number ${i}`,
      BigInt((i * 7919) % 100_000),
      ((i * 104729) % 1_000_000) / 100,
      `note ${i % 97} for ${words[(i * 3) % 8]}`,
    ];
    for (let c = 0; c < 4 && changes.length < n; c++) {
      changes.push({
        tbl: 't',
        pk,
        colName: columns[c]!,
        colValue: values[c]!,
        colVersion: 1 + (i % 3),
        dbVersion: 1 + Math.floor(i / 10),
        siteId,
        cl: 1,
        seq: c,
      });
    }
  }
  return changes;
}

function best(fn: () => void): number {
  let min = Infinity;
  for (let r = 0; r < rounds; r++) {
    const t0 = performance.now();
    fn();
    min = Math.min(min, performance.now() - t0);
  }
  return min;
}

function report(label: string, ms: number, bytes: number): void {
  const perSecond = Math.round(total / (ms / 1000));
  console.log(
    `${label.padEnd(28)} ${ms.toFixed(1).padStart(8)} ms  ${perSecond.toLocaleString('en-US').padStart(12)} changes/s  ${(bytes / total).toFixed(2).padStart(6)} B/change`,
  );
}

const changes = makeChanges(total);
console.log(`${total} changes, best of ${rounds} rounds, load average ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
const schemaHash = 0x1234_5678_9abc_def0n;
let compressed: Uint8Array = new Uint8Array(0);
let raw: Uint8Array = new Uint8Array(0);

report('encode v2 + LZ4 (default level)', best(() => (compressed = encodePayload(changes, { schemaHash }))), compressed.length);
report(
  'encode v2 + LZ4 (addRow)',
  best(() => {
    const e = new PayloadEncoder({ schemaHash });
    for (const c of changes) e.addRow(c.tbl, c.pk, c.colName, c.colValue, c.colVersion, c.dbVersion, c.siteId, c.cl, c.seq);
    compressed = e.finish();
  }),
  compressed.length,
);
report('encode v1 raw', best(() => (raw = encodePayload(changes, { schemaHash, version: 1, compress: false }))), raw.length);
report('decode v2 + LZ4', best(() => decodePayload(compressed)), compressed.length);
report('decode v1 raw', best(() => decodePayload(raw)), raw.length);
let visited = 0;
report('forEachPayloadChange v2 + LZ4', best(() => forEachPayloadChange(compressed, () => visited++)), compressed.length);

// Table t(id TEXT PRIMARY KEY, a TEXT, b INTEGER, c REAL, d TEXT): 4 changes per row at db_version 1
// (seq 4i..4i+3), then b updated on every row at db_version 2 (seq i), which supersedes the first b.
type Row = [id: string, a: string, b: bigint, c: number, d: string];

let state = 0x2545f491; // xorshift32: the same "random" UUIDs in every run, so sizes repeat

/** A UUIDv7 as lowercase dashed text: 48-bit ms timestamp, version 7, variant 10, random rest. */
function uuidV7(ms: number): string {
  const b = new Uint8Array(16);
  for (let i = 6; i < 16; i++) {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    b[i] = state;
  }
  for (let i = 5, t = ms; i >= 0; i--, t = Math.floor(t / 256)) b[i] = t % 256;
  b[6] = 0x70 | (b[6]! & 0x0f);
  b[8] = 0x80 | (b[8]! & 0x3f);
  const h = Buffer.from(b).toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

function tableChanges(rows: number, row: (i: number) => Row): Change[] {
  const changes: Change[] = [];
  const updates: Change[] = [];
  // Object literals of one shape (spread-built objects made encoding several times slower).
  const change = (pk: Uint8Array, colName: string, colValue: Row[1 | 2 | 3], version: number, seq: number): Change => ({
    tbl: 't',
    pk,
    colName,
    colValue,
    colVersion: version,
    dbVersion: version,
    siteId,
    cl: 1,
    seq,
  });
  for (let i = 0; i < rows; i++) {
    const [id, a, b, c, d] = row(i);
    const pk = encodePk([id]);
    changes.push(change(pk, 'a', a, 1, 4 * i), change(pk, 'c', c, 1, 4 * i + 2), change(pk, 'd', d, 1, 4 * i + 3));
    updates.push(change(pk, 'b', b + 1n, 2, i));
  }
  return changes.concat(updates);
}

const datasets: [string, Change[]][] = [
  ['realistic (above)', changes],
  ['sequential', tableChanges(50_000, (i) => [`id${String(i).padStart(6, '0')}`, `a${i}`, BigInt(i), i * 1.5, 'text'])],
  ['uuid', tableChanges(50_000, (i) => [uuidV7(1_700_000_000_000 + i), `name ${i}`, BigInt(i), i * 0.5, `description of row ${i % 997}`])],
];

/** Best time of each function over `rounds` rounds, one call of each per round (drift hits all alike). */
function bestEach(fns: (() => void)[]): number[] {
  const min = fns.map(() => Infinity);
  for (let r = 0; r < rounds; r++) {
    fns.forEach((fn, i) => {
      const t0 = performance.now();
      fn();
      min[i] = Math.min(min[i]!, performance.now() - t0);
    });
  }
  return min;
}

console.log('\nLZ4 levels: whole encode (encodePayload, version 2) and compressBlock alone on the raw body');
for (const [name, list] of datasets) {
  const body = encodePayload(list, { schemaHash, compress: false }).subarray(32);
  console.log(`${name}: ${list.length} changes, raw body ${(body.length / list.length).toFixed(2)} B/change`);
  const bytes = levels.map((level) => encodePayload(list, { schemaHash, compressionLevel: level }).length);
  const whole = bestEach(levels.map((level) => () => encodePayload(list, { schemaHash, compressionLevel: level })));
  const alone = bestEach(levels.map((level) => () => compressBlock(body, level)));
  const perSecond = (ms: number): string => Math.round(list.length / (ms / 1000)).toLocaleString('en-US').padStart(10);
  levels.forEach((level, i) => {
    console.log(
      `  level ${level}  ${(bytes[i]! / list.length).toFixed(2).padStart(6)} B/change  encode ${whole[i]!.toFixed(1).padStart(6)} ms ${perSecond(whole[i]!)} changes/s  compressBlock ${alone[i]!.toFixed(1).padStart(6)} ms`,
    );
  });
}
