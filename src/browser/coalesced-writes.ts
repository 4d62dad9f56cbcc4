// Write coalescing for the origin private file system: adjacent writes to one sync access handle
// become one call. Each call into OPFS costs about a millisecond on this machine whatever its size
// (a 16 KiB page and 1 MiB cost nearly the same), and SQLite writes a commit page by page.

/** The methods of a FileSystemSyncAccessHandle that coalescing wraps. */
interface SyncAccessHandle {
  read(buffer: ArrayBufferView | ArrayBuffer, options?: { at?: number }): number;
  write(buffer: ArrayBufferView | ArrayBuffer, options?: { at?: number }): number;
  flush(): void;
  truncate(size: number): void;
  getSize(): number;
  close(): void;
}

type HandleMethods = { [K in keyof SyncAccessHandle]: SyncAccessHandle[K] };

/** Pending bytes above this are written out at once. */
const MAX_PENDING = 16 * 1024 * 1024;
const FIRST_BUFFER = 1024 * 1024;

// The run of writes not yet made: one handle, one contiguous range. Any other change to storage
// (a write elsewhere, a flush, a truncate, a close, on any handle) writes it out first, so that
// storage always holds a prefix of the changes SQLite made, in its order: a worker that dies
// leaves what an earlier death would have left, which SQLite's journal recovers from.
let pendingHandle: SyncAccessHandle | null = null;
let pendingAt = 0;
let pendingLength = 0;
let buffer = new Uint8Array(0);
let original: HandleMethods | null = null;
let scheduled = false;
let enabled = true;
// handles with a write that failed after the call that made it had returned
const lost = new WeakSet<SyncAccessHandle>();

/**
 * Makes adjacent writes to each OPFS sync access handle of this worker one write, made when
 * storage is next flushed, truncated, closed or written elsewhere, read in or past the range, or
 * at the end of the current task at the latest (see writePending). Reads see every write; a
 * handle's size counts pending bytes. Idempotent; false when the platform has no sync access
 * handles.
 */
export function coalesceOpfsWrites(): boolean {
  const prototype = (globalThis as unknown as { FileSystemSyncAccessHandle?: { prototype: HandleMethods } }).FileSystemSyncAccessHandle?.prototype;
  if (!prototype) return false;
  if (original) return true;
  const methods: HandleMethods = { read: prototype.read, write: prototype.write, flush: prototype.flush, truncate: prototype.truncate, getSize: prototype.getSize, close: prototype.close };
  original = methods;
  prototype.write = function (this: SyncAccessHandle, data, options) {
    const at = options?.at;
    if (!enabled || !(data instanceof Uint8Array) || at === undefined) {
      writePending();
      return methods.write.call(this, data, options);
    }
    if (pendingHandle !== this || at !== pendingAt + pendingLength || pendingLength + data.length > MAX_PENDING) {
      writePending();
      pendingHandle = this;
      pendingAt = at;
      schedule();
    }
    append(data);
    return data.length;
  };
  prototype.read = function (this: SyncAccessHandle, data, options) {
    // a read that reaches the pending range (or past its start, where the file may end) waits for it
    if (pendingHandle === this && (options?.at === undefined || options.at + data.byteLength > pendingAt)) writePending();
    return methods.read.call(this, data, options);
  };
  prototype.getSize = function (this: SyncAccessHandle) {
    const size = methods.getSize.call(this);
    return pendingHandle === this ? Math.max(size, pendingAt + pendingLength) : size;
  };
  prototype.flush = function (this: SyncAccessHandle) {
    writePending(this);
    if (lost.delete(this)) throw new Error('OPFS: a write to this file failed since its last flush');
    methods.flush.call(this);
  };
  prototype.truncate = function (this: SyncAccessHandle, size) {
    writePending();
    methods.truncate.call(this, size);
  };
  prototype.close = function (this: SyncAccessHandle) {
    writePending();
    methods.close.call(this);
  };
  return true;
}

/** Turns coalescing off (each write is made at once, as without it) and on again; for comparisons. */
export function setOpfsCoalescing(on: boolean): void {
  if (!on) writePending();
  enabled = on;
}

/**
 * Writes out the pending run, if any. The worker calls it before each answer to the page, so
 * that nothing an answer reports is only in memory; a microtask calls it after any other task
 * that wrote. Throws what the write throws; the bytes are then dropped, and unless the error goes
 * to that file's own flush (`flushing`), its next flush fails too, so that SQLite never takes
 * them for stored.
 */
export function writePending(flushing?: SyncAccessHandle): void {
  const handle = pendingHandle;
  if (handle === null || original === null) return;
  const length = pendingLength;
  pendingHandle = null;
  pendingLength = 0;
  const bytes = buffer.subarray(0, length);
  if (buffer.length > 4 * FIRST_BUFFER) buffer = new Uint8Array(0);
  try {
    const written = original.write.call(handle, bytes, { at: pendingAt });
    if (written !== length) throw new Error(`OPFS wrote ${written} of ${length} bytes at ${pendingAt}`);
  } catch (error) {
    if (handle !== flushing) lost.add(handle);
    throw error;
  }
}

function append(data: Uint8Array): void {
  const needed = pendingLength + data.length;
  if (needed > buffer.length) {
    const grown = new Uint8Array(Math.max(needed, Math.min(MAX_PENDING, Math.max(FIRST_BUFFER, buffer.length * 2))));
    grown.set(buffer.subarray(0, pendingLength));
    buffer = grown;
  }
  buffer.set(data, pendingLength);
  pendingLength = needed;
}

function schedule(): void {
  if (scheduled) return;
  scheduled = true;
  queueMicrotask(() => {
    scheduled = false;
    try {
      writePending();
    } catch {
      // nobody to tell now: the file's next flush (SQLite's sync) fails instead
    }
  });
}
