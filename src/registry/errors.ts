import { ErrorCode, SteadfastError } from '../core/errors.js';

/** The instance, check, session or key does not exist. */
export class RegistryNotFoundError extends SteadfastError {
  constructor(what: string) {
    super(ErrorCode.NOT_FOUND, what, { retryable: false });
  }
}

/** The request is malformed; `field` names what to fix. */
export class RegistryValidationError extends SteadfastError {
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(ErrorCode.INVALID_REQUEST, message, { retryable: false });
  }
}

/** A write could not be made durable (its checkpoint failed); it was not acknowledged. */
export class RegistryPersistenceError extends SteadfastError {
  constructor(message: string, cause?: unknown) {
    super(ErrorCode.REGISTRY_PERSISTENCE, message, { retryable: true, cause });
  }
}

/** The registry's store holds checkpoints, but none that can be read: it refuses to start empty. */
export class RegistryRestoreError extends SteadfastError {
  constructor(message: string) {
    super(ErrorCode.REGISTRY_RESTORE, message, { retryable: false });
  }
}

/** A write would make the registry's state larger than it can persist. */
export class RegistryFullError extends SteadfastError {
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(ErrorCode.REGISTRY_FULL, message, { retryable: false });
  }
}
