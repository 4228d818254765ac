import { ErrorCode, SteadfastError } from '../core/errors.js';

/** A stored checkpoint failed verification (torn write, flipped bit, wrong format). */
export class CheckpointCorruptError extends SteadfastError {
  constructor(
    readonly stream: string,
    readonly id: number,
    readonly reason: string,
  ) {
    super(ErrorCode.CHECKPOINT_CORRUPT, `checkpoint ${stream}#${id} is corrupt: ${reason}`, { retryable: false });
  }
}

/** The encoded checkpoint is larger than the store's `maxBytes`. */
export class CheckpointTooLargeError extends SteadfastError {
  constructor(
    readonly size: number,
    readonly maxBytes: number,
  ) {
    super(ErrorCode.CHECKPOINT_TOO_LARGE, `checkpoint of ${size} bytes exceeds maxBytes=${maxBytes} (raise the store's maxBytes option or checkpoint less state)`, {
      retryable: false,
    });
  }
}

/**
 * The save may or may not have taken effect: the connection dropped after the write was
 * sent, or fewer replicas than `waitReplicas` confirmed it in time. Treat the checkpoint as
 * not acknowledged; `latest()` tells what survived.
 */
export class CheckpointOutcomeUnknownError extends SteadfastError {
  constructor(message: string, cause?: unknown) {
    super(ErrorCode.CHECKPOINT_OUTCOME_UNKNOWN, message, { retryable: true, cause });
  }
}

export class CheckpointStoreClosedError extends SteadfastError {
  constructor(store: string) {
    super(ErrorCode.CHECKPOINT_STORE_CLOSED, `${store} is closed`, { retryable: false });
  }
}
