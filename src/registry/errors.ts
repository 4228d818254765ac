import { SteadfastError } from '../core/errors.js';

/** The instance, check, session or key does not exist. */
export class RegistryNotFoundError extends SteadfastError {
  constructor(what: string) {
    super('ERR_NOT_FOUND', what, { retryable: false });
  }
}

/** The request is malformed; `field` names what to fix. */
export class RegistryValidationError extends SteadfastError {
  constructor(
    readonly field: string,
    message: string,
  ) {
    super('ERR_INVALID_REQUEST', message, { retryable: false });
  }
}
