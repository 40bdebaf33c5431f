/** Base class of every error a sandbox provider throws. `retryable` guides the activity layer. */
export class SandboxError extends Error {
  readonly retryable: boolean;
  constructor(message: string, opts: { retryable?: boolean; cause?: unknown } = {}) {
    super(message, { cause: opts.cause });
    this.name = new.target.name;
    this.retryable = opts.retryable ?? true;
  }
}

/** Thrown when a sandbox no longer exists (destroyed, expired, or its host lost it). */
export class SandboxNotFoundError extends SandboxError {
  constructor(sandboxId: string, opts: { cause?: unknown } = {}) {
    super(`sandbox ${sandboxId} does not exist (destroyed, expired, or created on another host)`, {
      retryable: true,
      ...opts,
    });
  }
}

/** Thrown when the local provider cannot isolate processes because bubblewrap is missing. */
export class BubblewrapMissingError extends SandboxError {
  constructor(detail: string) {
    super(
      `bubblewrap (bwrap) is required to isolate agents but ${detail}. ` +
        `Install it with \`sudo apt-get install -y bubblewrap\` (Debian/Ubuntu) or \`sudo dnf install bubblewrap\`, ` +
        `or opt in to running agents without isolation with CCFLOW_UNSAFE_NO_SANDBOX=1.`,
      { retryable: false },
    );
  }
}

/** Thrown when a caller passes something the sandbox cannot accept (bad path, bad option). */
export class SandboxInputError extends SandboxError {
  constructor(message: string) {
    super(message, { retryable: false });
  }
}

/**
 * Thrown when a task asks for something this provider or host cannot give (a network policy
 * it cannot express, limits over the worker's caps): the task's input is at fault, and
 * `field` names where (e.g. `network.allow[2]`).
 */
export class SandboxPolicyError extends SandboxInputError {
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(`${field}: ${message}`);
  }
}
