// Byte helpers that run in Node and in browsers alike (no Buffer): hex, base64, and a byte-exact
// string form for use as a Map key.

/** Lower-case hex of `bytes`. */
export function toHex(bytes: Uint8Array): string {
  let s = '';
  for (const b of bytes) s += b < 16 ? `0${b.toString(16)}` : b.toString(16);
  return s;
}

/** One character per byte (code points 0..255): a string key that is equal exactly when the bytes are. */
export function byteKey(bytes: Uint8Array): string {
  let s = '';
  for (let i = 0; i < bytes.length; i += 8192) s += String.fromCharCode(...bytes.subarray(i, i + 8192));
  return s;
}

/** Standard base64 of `bytes`. */
export function toBase64(bytes: Uint8Array): string {
  return btoa(byteKey(bytes));
}

/** The bytes of standard base64 `text`; throws on characters outside the alphabet. */
export function fromBase64(text: string): Uint8Array {
  const binary = atob(text);
  const out = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) out[i] = binary.charCodeAt(i);
  return out;
}

/** The parts joined into one array of `total` bytes (the sum of their lengths when left out). */
export function concatBytes(parts: readonly Uint8Array[], total = parts.reduce((n, p) => n + p.length, 0)): Uint8Array {
  const out = new Uint8Array(total);
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}
