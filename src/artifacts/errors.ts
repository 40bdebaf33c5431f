/**
 * Errors of the artifact stores. Activities turn them into classified failures by `retryable`
 * (never by message); every message says what to fix, and never carries a credential.
 */

/** Thrown when the artifact store fails; the subclasses say why. */
export class ArtifactStoreError extends Error {
  /** Whether trying the same call again may succeed (the store was busy, the network dropped). */
  readonly retryable: boolean;
  constructor(message: string, opts: { retryable: boolean; cause?: unknown }) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = new.target.name;
    this.retryable = opts.retryable;
  }
}

/** Thrown when the store rejects ccflow's credentials (wrong key or secret, expired token, no permission). */
export class ArtifactStoreAuthError extends ArtifactStoreError {
  constructor(message: string, cause?: unknown) {
    super(message, { retryable: false, cause });
  }
}

/** Thrown when the configured bucket does not exist: ccflow never creates one. */
export class ArtifactBucketNotFoundError extends ArtifactStoreError {
  constructor(message: string, cause?: unknown) {
    super(message, { retryable: false, cause });
  }
}

/** Thrown when the store cannot be reached or answers with a server error, after the client's own retries. */
export class ArtifactStoreUnavailableError extends ArtifactStoreError {
  constructor(message: string, cause?: unknown) {
    super(message, { retryable: true, cause });
  }
}

/** Thrown when the store's configuration (CCFLOW_ARTIFACTS and the variables beside it) is invalid. */
export class ArtifactStoreConfigError extends ArtifactStoreError {
  constructor(message: string) {
    super(message, { retryable: false });
  }
}
