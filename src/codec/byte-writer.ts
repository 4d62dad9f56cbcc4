// A growable big-endian byte buffer: the output side of every encoder in this folder.
// Hot-path encoders write straight into `buffer` at `position` after calling `ensure`.

/** Growable byte buffer that doubles its capacity as needed. */
export class ByteWriter {
  /** Backing storage; replaced (not resized) when it grows, so re-read it after `ensure`. */
  buffer: Uint8Array;
  /** Number of bytes written so far; the next byte goes to `buffer[position]`. */
  position = 0;

  constructor(initialCapacity = 256) {
    this.buffer = new Uint8Array(Math.max(16, initialCapacity));
  }

  /** Number of bytes written so far. */
  get length(): number {
    return this.position;
  }

  /** Makes room for `n` more bytes. */
  ensure(n: number): void {
    const needed = this.position + n;
    if (needed > this.buffer.length) this.grow(needed);
  }

  /** Forgets the written bytes but keeps the capacity, so the writer can be reused. */
  reset(): void {
    this.position = 0;
  }

  /** Appends one byte (only the low 8 bits are kept). */
  writeByte(b: number): void {
    if (this.position >= this.buffer.length) this.grow(this.position + 1);
    this.buffer[this.position++] = b;
  }

  /** Appends the bytes of `u8` (a Node Buffer is fine). */
  writeBytes(u8: Uint8Array): void {
    const n = u8.length;
    const needed = this.position + n;
    if (needed > this.buffer.length) this.grow(needed);
    const buf = this.buffer;
    let p = this.position;
    if (n <= 24) {
      for (let i = 0; i < n; i++) buf[p++] = u8[i]!;
    } else {
      buf.set(u8, p);
    }
    this.position = needed;
  }

  /** Appends an unsigned 16-bit integer, big-endian. */
  writeUint16BE(v: number): void {
    this.ensure(2);
    const buf = this.buffer;
    buf[this.position++] = v >>> 8;
    buf[this.position++] = v;
  }

  /** Appends an unsigned 32-bit integer, big-endian. */
  writeUint32BE(v: number): void {
    this.ensure(4);
    const buf = this.buffer;
    buf[this.position++] = v >>> 24;
    buf[this.position++] = v >>> 16;
    buf[this.position++] = v >>> 8;
    buf[this.position++] = v;
  }

  /** A view of the written bytes; it shares memory with the writer until the next write or reset. */
  finish(): Uint8Array {
    return this.buffer.subarray(0, this.position);
  }

  private grow(needed: number): void {
    let capacity = this.buffer.length * 2;
    while (capacity < needed) capacity *= 2;
    const next = new Uint8Array(capacity);
    next.set(this.buffer.subarray(0, this.position));
    this.buffer = next;
  }
}
