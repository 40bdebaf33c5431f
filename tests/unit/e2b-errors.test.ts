/** The one table that turns e2b SDK errors into ccflow sandbox errors. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
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

import {
  E2BAuthError,
  E2BBusyError,
  E2BCommandError,
  E2BDiskFullError,
  E2BTemplateError,
  E2BUnavailableError,
  isGoneCandidate,
  translateE2BError,
} from '../../src/sandbox/e2b/errors.js';
import { SandboxError, SandboxInputError, SandboxNotFoundError } from '../../src/sandbox/errors.js';

function sdkError(status: number, message: string): SdkSandboxError {
  const e = new SdkSandboxError(`${status}: ${message}`);
  e.statusCode = status;
  return e;
}

const cases: Array<[string, unknown, new (...a: never[]) => SandboxError, boolean, RegExp?]> = [
  ['wrong key', new AuthenticationError('Unauthorized, please check your credentials.'), E2BAuthError, false, /E2B_API_KEY/],
  ['rate limit', new RateLimitError('Rate limit exceeded'), E2BBusyError, true],
  ['no capacity', new ServiceBusyError('Service temporarily unavailable'), E2BBusyError, true],
  ['sandbox gone', new SdkSandboxNotFoundError('Sandbox x not found'), SandboxNotFoundError, true, /sbx-1/],
  ['missing file', new FileNotFoundError("path '/x' does not exist"), SandboxInputError, false],
  ['bad argument', new InvalidArgumentError('cwd does not exist'), SandboxInputError, false],
  ['old template', new TemplateError('You need to update the template'), E2BTemplateError, false, /template:build/],
  ['disk full', new NotEnoughSpaceError('no space left'), E2BDiskFullError, false],
  [
    'helper command failed',
    new CommandExitError({ exitCode: 127, stdout: '', stderr: 'setsid: not found\n', error: 'exit status 127' }),
    E2BCommandError,
    false,
    /exit 127: setsid: not found/,
  ],
  ['timeout', new TimeoutError('deadline exceeded'), E2BUnavailableError, true],
  ['unknown template (API 404)', sdkError(404, "template 'nope' not found"), E2BTemplateError, false],
  ['bad request (API 400)', sdkError(400, 'bad timeout'), SandboxInputError, false],
  ['server error (API 500)', sdkError(500, 'boom'), E2BUnavailableError, true],
  ['network failure', new TypeError('fetch failed'), E2BUnavailableError, true],
];

for (const [name, input, cls, retryable, message] of cases) {
  test(`${name} → ${cls.name} (${retryable ? 'retryable' : 'not retryable'})`, () => {
    const out = translateE2BError(input, 'sbx-1');
    assert.ok(out instanceof cls, `${name}: got ${out.name}`);
    assert.ok(out instanceof SandboxError);
    assert.equal(out.retryable, retryable);
    if (message) assert.match(out.message, message);
  });
}

test('ccflow errors pass through untouched', () => {
  const e = new SandboxNotFoundError('abc');
  assert.equal(translateE2BError(e), e);
});

test('only errors a dead sandbox can cause trigger the "is it gone?" probe', () => {
  assert.equal(isGoneCandidate(new TimeoutError('502')), true);
  assert.equal(isGoneCandidate(new TypeError('fetch failed')), true);
  assert.equal(isGoneCandidate(new AuthenticationError('no')), false);
  assert.equal(isGoneCandidate(new FileNotFoundError('no')), false);
  assert.equal(isGoneCandidate(new RateLimitError('slow down')), false);
  assert.equal(isGoneCandidate(new SandboxInputError('bad path')), false);
});
