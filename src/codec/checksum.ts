// 64-bit FNV-1a (offset 0xcbf29ce484222325, prime 0x100000001b3) and the 48-bit payload
// checksum built from it. The hash runs on four 16-bit limbs, so no bigint in the loop.

/** FNV-1a 64 offset basis. */
export const FNV1A64_OFFSET = 0xcbf29ce484222325n;

/** 64-bit FNV-1a of `bytes`, continuing from `seed` (the offset basis by default), as an unsigned bigint. */
export function fnv1a64(bytes: Uint8Array, seed: bigint = FNV1A64_OFFSET): bigint {
  const s = BigInt.asUintN(64, seed);
  const state = fnv1a64Limbs(bytes, Number(s & 0xffffn), Number((s >> 16n) & 0xffffn), Number((s >> 32n) & 0xffffn), Number(s >> 48n));
  return (BigInt(state.hi) << 32n) | BigInt(state.lo);
}

/**
 * The version-2 payload checksum: the low 48 bits of FNV-1a 64 over the body bytes as
 * transmitted (compressed or not). Verified against sqlite-sync 1.1.4 output.
 */
export function payloadChecksum(body: Uint8Array): number {
  const state = fnv1a64Limbs(body, 0x2325, 0x8422, 0x9ce4, 0xcbf2);
  return (state.hi & 0xffff) * 4294967296 + state.lo;
}

/** FNV-1a 64 with the state in four 16-bit limbs (h0 lowest), so every step stays in small integers. */
function fnv1a64Limbs(bytes: Uint8Array, h0: number, h1: number, h2: number, h3: number): { hi: number; lo: number } {
  // h * 0x100000001b3 = h * 0x1b3 + (h << 40); the << 40 moves limb 0 into limb 2 and limb 1
  // into limb 3, each shifted left by 8 bits. Limb 3's own overflow falls off the 64 bits.
  const n = bytes.length;
  for (let i = 0; i < n; i++) {
    h0 ^= bytes[i]!;
    const t0 = h0 * 0x1b3;
    const t1 = h1 * 0x1b3 + (t0 >>> 16);
    const t2 = h2 * 0x1b3 + (h0 << 8) + (t1 >>> 16);
    h3 = (h3 * 0x1b3 + (h1 << 8) + (t2 >>> 16)) & 0xffff;
    h0 = t0 & 0xffff;
    h1 = t1 & 0xffff;
    h2 = t2 & 0xffff;
  }
  return { hi: ((h3 << 16) | h2) >>> 0, lo: ((h1 << 16) | h0) >>> 0 };
}
