// The one error class of the codec boundary: every malformed input or unencodable value
// surfaces as a CodecError with a stable `code`, never as another exception type.

/** Stable machine-readable reasons a value, primary key or payload cannot be encoded or decoded. */
export type CodecErrorCode =
  | 'TRUNCATED' // fewer bytes remain than a field needs
  | 'BAD_TYPE' // a value of the wrong SQLite type (or not a SqlValue at all)
  | 'BAD_VALUE' // out of range (int64, safe integer, count) or not in canonical form
  | 'BAD_SIGNATURE' // the payload does not start with 'CLSY'
  | 'BAD_VERSION' // payload version other than 1 or 2
  | 'BAD_CHECKSUM' // version-2 body checksum mismatch
  | 'BAD_SIZE' // counts and lengths disagree (ncols, nrows, trailing bytes, inflated size)
  | 'LZ4' // malformed LZ4 block
  | 'TOO_LARGE'; // a size beyond the configured or format limits

/** Thrown by every codec function when its input is malformed or cannot be represented. */
export class CodecError extends Error {
  /** Stable reason, safe to branch on. */
  readonly code: CodecErrorCode;

  constructor(code: CodecErrorCode, message: string) {
    super(message);
    this.name = 'CodecError';
    this.code = code;
  }
}
