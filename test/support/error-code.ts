// Test helper: the code of the CodecError a call throws ('no error' when it returns).

import { CodecError } from '../../src/codec/codec-error.js';

/** Runs `fn` and returns the `code` of the CodecError it throws; other errors propagate. */
export function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (error) {
    if (error instanceof CodecError) return error.code;
    throw error;
  }
  return 'no error';
}
