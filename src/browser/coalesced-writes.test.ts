// Write coalescing over a stand-in for OPFS's sync access handle (Node has none; the Chromium
// tests in test/browser.test.ts run it on the real one).

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { coalesceOpfsWrites, writePending } from './coalesced-writes.js';

/** An in-memory file that records every call that reaches it. */
class FakeHandle {
  static calls: string[] = [];
  bytes = new Uint8Array(0);
  failWrites = false;

  constructor(readonly name: string) {}

  write(data: Uint8Array, options: { at: number }): number {
    FakeHandle.calls.push(`${this.name} write ${options.at}+${data.length}`);
    if (this.failWrites) throw new Error('disk full');
    const end = options.at + data.length;
    if (end > this.bytes.length) {
      const grown = new Uint8Array(end);
      grown.set(this.bytes);
      this.bytes = grown;
    }
    this.bytes.set(data, options.at);
    return data.length;
  }

  read(data: Uint8Array, options: { at: number }): number {
    FakeHandle.calls.push(`${this.name} read ${options.at}+${data.length}`);
    const part = this.bytes.subarray(options.at, options.at + data.length);
    data.set(part);
    return part.length;
  }

  getSize(): number {
    return this.bytes.length;
  }

  flush(): void {
    FakeHandle.calls.push(`${this.name} flush`);
  }

  truncate(size: number): void {
    FakeHandle.calls.push(`${this.name} truncate ${size}`);
    this.bytes = this.bytes.slice(0, size);
  }

  close(): void {
    FakeHandle.calls.push(`${this.name} close`);
  }
}

(globalThis as unknown as { FileSystemSyncAccessHandle: unknown }).FileSystemSyncAccessHandle = FakeHandle;
assert.equal(coalesceOpfsWrites(), true);

const page = (fill: number, size = 4) => new Uint8Array(size).fill(fill);
const fresh = (name: string) => {
  writePending();
  FakeHandle.calls = [];
  return new FakeHandle(name);
};

test('adjacent writes reach the file as one write, at the next flush', () => {
  const db = fresh('db');
  for (let i = 0; i < 5; i++) assert.equal(db.write(page(i + 1), { at: i * 4 }), 4);
  assert.deepEqual(FakeHandle.calls, []);
  assert.equal(db.getSize(), 20, 'the size counts pending bytes');
  db.flush();
  assert.deepEqual(FakeHandle.calls, ['db write 0+20', 'db flush']);
  assert.deepEqual([...db.bytes], [1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5]);
});

test('the caller may reuse its buffer at once: the bytes are copied', () => {
  const db = fresh('db');
  const buffer = page(7);
  db.write(buffer, { at: 0 });
  buffer.fill(9);
  db.write(buffer, { at: 4 });
  db.flush();
  assert.deepEqual([...db.bytes], [7, 7, 7, 7, 9, 9, 9, 9]);
});

test('a read of pending bytes sees them; a read below the pending range waits for nothing', () => {
  const db = fresh('db');
  db.write(page(1), { at: 0 });
  db.flush();
  db.write(page(2), { at: 8 });
  db.write(page(3), { at: 12 });
  const below = new Uint8Array(4);
  db.read(below, { at: 0 });
  assert.deepEqual([...below], [1, 1, 1, 1]);
  assert.deepEqual(FakeHandle.calls, ['db write 0+4', 'db flush', 'db read 0+4']);
  const inside = new Uint8Array(4);
  db.read(inside, { at: 12 });
  assert.deepEqual([...inside], [3, 3, 3, 3]);
  assert.deepEqual(FakeHandle.calls.slice(3), ['db write 8+8', 'db read 12+4']);
});

test('storage changes keep their order across files: a write elsewhere writes out the pending run first', () => {
  const db = fresh('db');
  const journal = new FakeHandle('journal');
  journal.write(page(1), { at: 0 });
  journal.write(page(1), { at: 4 });
  journal.flush();
  db.write(page(2), { at: 0 });
  db.write(page(2), { at: 4 });
  journal.write(page(0), { at: 0 });
  journal.truncate(0);
  assert.deepEqual(FakeHandle.calls, ['journal write 0+8', 'journal flush', 'db write 0+8', 'journal write 0+4', 'journal truncate 0']);
});

test('a write that is not adjacent writes out the run before it; truncate and close write it out', () => {
  const db = fresh('db');
  db.write(page(1), { at: 0 });
  db.write(page(2), { at: 100 });
  db.write(page(3), { at: 104 });
  db.truncate(50);
  db.write(page(4), { at: 0 });
  db.close();
  assert.deepEqual(FakeHandle.calls, ['db write 0+4', 'db write 100+8', 'db truncate 50', 'db write 0+4', 'db close']);
  assert.equal(db.bytes.length, 50);
});

test('what a task leaves pending is written at its end', async () => {
  const db = fresh('db');
  db.write(page(5), { at: 0 });
  assert.deepEqual(FakeHandle.calls, []);
  await Promise.resolve();
  assert.deepEqual(FakeHandle.calls, ['db write 0+4']);
});

test('a failed write is reported, and the file cannot be flushed as if it had been stored', async () => {
  const db = fresh('db');
  db.failWrites = true;
  db.write(page(1), { at: 0 });
  assert.throws(() => db.flush(), /disk full/);
  db.failWrites = false;
  db.flush();
  // failing after its caller returned: the microtask cannot tell anybody, the next flush does
  db.failWrites = true;
  db.write(page(1), { at: 0 });
  await Promise.resolve();
  db.failWrites = false;
  assert.throws(() => db.flush(), /failed since its last flush/);
  db.flush();
  assert.equal(FakeHandle.calls.filter((c) => c === 'db flush').length, 2);
});
