/**
 * E2B SDK errors translated to ccflow's sandbox errors, in one table: the activity layer reads
 * `retryable` (and SandboxNotFoundError becomes `SandboxLost`), so nothing above the provider
 * ever sees an SDK type.
 */
import {
  AuthenticationError,
  CommandExitError,
  FileNotFoundError,
  InvalidArgumentError,
  NotEnoughSpaceError,
  RateLimitError,
  SandboxError as SdkSandboxError,
  SandboxNotFoundError as SdkSandboxNotFoundError,
  ServiceBusyError,
  TemplateError,
  TimeoutError,
} from 'e2b';

import { SandboxError, SandboxInputError, SandboxNotFoundError } from '../errors.js';

/** Thrown when E2B rejects the API key. Not retried: the key has to be fixed first. */
export class E2BAuthError extends SandboxError {
  constructor(detail: string, opts: { cause?: unknown } = {}) {
    super(`E2B rejected the API key (${detail}). Check E2B_API_KEY on the worker; keys are at https://e2b.dev/dashboard?tab=keys.`, {
      retryable: false,
      ...opts,
    });
  }
}

/** Thrown when E2B rate-limits us or is temporarily out of capacity. Retried with backoff. */
export class E2BBusyError extends SandboxError {
  constructor(detail: string, opts: { cause?: unknown } = {}) {
    super(`E2B is busy or rate-limiting this key (${detail}); the call will be retried.`, { retryable: true, ...opts });
  }
}

/** Thrown when E2B (or the network to it) fails or times out a call. Retried. */
export class E2BUnavailableError extends SandboxError {
  constructor(detail: string, opts: { cause?: unknown } = {}) {
    super(`E2B call failed: ${detail}`, { retryable: true, ...opts });
  }
}

/**
 * Thrown when the sandbox template is missing or too old for this SDK. Not retried: build it
 * with `npm run template:build` (or point CCFLOW_E2B_TEMPLATE at an existing one).
 */
export class E2BTemplateError extends SandboxError {
  constructor(detail: string, opts: { cause?: unknown } = {}) {
    super(`the E2B sandbox template cannot be used (${detail}). Build it with \`npm run template:build\` or set CCFLOW_E2B_TEMPLATE.`, {
      retryable: false,
      ...opts,
    });
  }
}

/** Thrown when a helper command ccflow runs in the sandbox fails (a template without bash/setsid...). */
export class E2BCommandError extends SandboxError {
  constructor(detail: string, opts: { cause?: unknown } = {}) {
    super(`a ccflow helper command failed in the E2B sandbox (${detail}); is the sandbox built from ccflow's template?`, {
      retryable: false,
      ...opts,
    });
  }
}

/** Thrown when the sandbox's disk is full. Not retried: the same work would fill it again. */
export class E2BDiskFullError extends SandboxError {
  constructor(detail: string, opts: { cause?: unknown } = {}) {
    super(`the E2B sandbox ran out of disk space (${detail})`, { retryable: false, ...opts });
  }
}

/** What went wrong, for messages: the SDK's own words, trimmed. */
function detail(err: Error): string {
  const msg = err.message.replace(/\s+/g, ' ').trim();
  return msg.length > 300 ? `${msg.slice(0, 300)}...` : msg || err.name;
}

type Translate = (err: Error, sandboxId: string | undefined) => SandboxError;

/**
 * SDK error class → ccflow error, first match wins (subclasses before their bases).
 * TimeoutError is also what envd calls to a sandbox that is gone turn into: the provider
 * probes the control plane before it trusts this row (see `isGoneCandidate`).
 */
const TABLE: ReadonlyArray<readonly [abstract new (...args: never[]) => Error, Translate]> = [
  [AuthenticationError, (e) => new E2BAuthError(detail(e), { cause: e })],
  [RateLimitError, (e) => new E2BBusyError(detail(e), { cause: e })],
  [ServiceBusyError, (e) => new E2BBusyError(detail(e), { cause: e })],
  [SdkSandboxNotFoundError, (e, id) => new SandboxNotFoundError(id ?? '(unknown)', { cause: e })],
  [FileNotFoundError, (e) => new SandboxInputError(`no such file in the E2B sandbox: ${detail(e)}`)],
  [InvalidArgumentError, (e) => new SandboxInputError(`E2B refused the request: ${detail(e)}`)],
  [TemplateError, (e) => new E2BTemplateError(detail(e), { cause: e })],
  [NotEnoughSpaceError, (e) => new E2BDiskFullError(detail(e), { cause: e })],
  [
    CommandExitError,
    (e) =>
      new E2BCommandError(`exit ${(e as CommandExitError).exitCode}: ${(e as CommandExitError).stderr.trim().slice(-500)}`, { cause: e }),
  ],
  [TimeoutError, (e) => new E2BUnavailableError(detail(e), { cause: e })],
  [
    SdkSandboxError,
    (e) => {
      // Other API errors carry their HTTP status: a 4xx is a request that will not get better.
      const status = (e as SdkSandboxError).statusCode;
      if (status !== undefined && status >= 400 && status < 500) {
        return status === 404
          ? new E2BTemplateError(detail(e), { cause: e })
          : new SandboxInputError(`E2B refused the request: ${detail(e)}`);
      }
      return new E2BUnavailableError(detail(e), { cause: e });
    },
  ],
];

/** Translates anything a provider call threw into a ccflow SandboxError. */
export function translateE2BError(err: unknown, sandboxId?: string): SandboxError {
  if (err instanceof SandboxError) return err;
  if (err instanceof Error) {
    for (const [cls, translate] of TABLE) if (err instanceof cls) return translate(err, sandboxId);
    // fetch failures (connection refused, reset, DNS) and aborted requests
    return new E2BUnavailableError(detail(err), { cause: err });
  }
  return new E2BUnavailableError(String(err));
}

/**
 * Errors that are what a call to a sandbox that no longer exists looks like from envd's side
 * (the proxy answers 502, which the SDK reports as TimeoutError; a dropped connection is a
 * plain fetch error). The provider then asks the control plane whether the sandbox is gone.
 */
export function isGoneCandidate(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  if (err instanceof TimeoutError || err instanceof SdkSandboxNotFoundError) return true;
  return (
    !(err instanceof SdkSandboxError) &&
    !(err instanceof SandboxError) &&
    !(err instanceof AuthenticationError) &&
    !(err instanceof ServiceBusyError)
  );
}
