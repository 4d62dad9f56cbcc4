// Public surface of the codec: values and primary keys, payloads, compression, checksums
// and the schema hash. Pure functions over bytes: no SQLite, no I/O.

export { ByteReader } from './byte-reader.js';
export { ByteWriter } from './byte-writer.js';
export { SENTINEL, type Change } from './change.js';
export { fnv1a64, payloadChecksum } from './checksum.js';
export { CodecError, type CodecErrorCode } from './codec-error.js';
export { compressBlock, decompressBlock } from './compression.js';
export { decodePayload, encodePayload, forEachPayloadChange, type DecodedPayload, type DecodeOptions } from './payload.js';
export { PayloadEncoder, type EncodeOptions } from './payload-encoder.js';
export { decodePayloadHeader, type PayloadHeader } from './payload-header.js';
export { decodePk, encodePk } from './pk.js';
export { schemaHash, toSignedInt64, toUnsignedInt64 } from './schema-hash.js';
export {
  compareValues,
  readIntNumber,
  readValue,
  valuesEqual,
  writeInt,
  writeValue,
  type SqlValue,
} from './value.js';
