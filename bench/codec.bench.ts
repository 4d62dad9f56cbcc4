// Encode/decode throughput of payloads for a realistic table: 50,000 rows x 4 columns
// (TEXT, INTEGER, REAL, TEXT), text primary keys like 'id-000123', one site id, table 't'.
// Run: node --import tsx bench/codec.bench.ts [changes=200000] [rounds=10]; prints the best round.

import { loadavg } from 'node:os';
import { decodePayload, encodePayload, encodePk, forEachPayloadChange, PayloadEncoder, type Change } from '../src/codec/index.js';

const total = Number(process.argv[2] ?? 200_000);
const rounds = Number(process.argv[3] ?? 10);
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

report('encode v2 + LZ4', best(() => (compressed = encodePayload(changes, { schemaHash }))), compressed.length);
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
