/**
 * One error class for everything the git module can fail with. `code` says what went wrong
 * in terms a caller can act on; the activity layer maps codes to ccflow failure types in one
 * table. Messages say what to do about the problem and never carry a credential.
 */

export type GitErrorCode =
  /** Thrown when the remote refused the worker's credentials, or none were configured for it. */
  | 'auth'
  /** Thrown when the repository does not exist at that URL, or is not readable by the worker. */
  | 'not-found'
  /** Thrown when the worker's policy does not allow the location (e.g. a local path outside its roots). */
  | 'forbidden'
  /** Thrown when the requested ref (branch, tag, commit) is not in the repository. */
  | 'ref-not-found'
  /** Thrown when the repository is over the worker's size limit. */
  | 'too-large'
  /** Thrown on a failure that may pass: DNS, refused or reset connections, 5xx, timeouts. */
  | 'network'
  /** Thrown when a push was refused: the branch moved since it was recorded, or is protected. */
  | 'rejected'
  /** Thrown when a change applied with conflicts; the conflicting paths are in `paths`. */
  | 'conflict'
  /** Thrown when a change does not apply at all to the checkout (and no 3-way merge was possible). */
  | 'does-not-apply'
  /** Thrown when the caller's input or a local directory is not usable (not a repo, not empty...). */
  | 'invalid'
  /** Thrown when a workspace git repository is missing or damaged. */
  | 'broken'
  /** Thrown on any other git failure; the message carries git's own last lines. */
  | 'failed';

export class GitError extends Error {
  readonly code: GitErrorCode;
  /** Paths the error is about (conflicting files), when any. */
  readonly paths: readonly string[];
  /** The last lines git printed on stderr, cut short; never a credential. */
  readonly stderrTail: string;
  constructor(code: GitErrorCode, message: string, opts: { paths?: readonly string[]; stderrTail?: string } = {}) {
    super(message);
    this.name = 'GitError';
    this.code = code;
    this.paths = opts.paths ?? [];
    this.stderrTail = opts.stderrTail ?? '';
  }
}

/**
 * How a failed transport command (ls-remote, fetch, push) reads. git exits 128 for all of
 * them, so its stderr is the only signal there is; the patterns are git's own wording
 * (2.3x), checked against real servers in the tests. Order matters: the first match wins.
 * Anything unmatched is `failed`.
 */
const TRANSPORT_PATTERNS: ReadonlyArray<readonly [RegExp, GitErrorCode]> = [
  [
    /Authentication failed|could not read (Username|Password)|terminal prompts disabled|returned error: 40[13]\b|Permission denied \(publickey|Host key verification failed|invalid credentials/i,
    'auth',
  ],
  [
    /repository '.*' not found|does not appear to be a git repository|no such repository|access denied or repository not exported|returned error: 404\b|Repository not found|not a git repository/i,
    'not-found',
  ],
  [
    /Could not resolve host|Connection refused|Failed to connect|Connection timed out|Operation timed out|Connection reset|returned error: 5\d\d\b|early EOF|RPC failed|unable to connect|Network is unreachable|the remote end hung up unexpectedly|transfer closed/i,
    'network',
  ],
];

/** The error code a failed transport command's stderr suggests. */
export function classifyTransportFailure(stderr: string): GitErrorCode {
  for (const [re, code] of TRANSPORT_PATTERNS) if (re.test(stderr)) return code;
  return 'failed';
}

/** The last `maxLines` non-empty lines of git's stderr, without progress noise. */
export function stderrTail(stderr: string, maxLines = 6, maxChars = 1000): string {
  const lines = stderr
    .split(/\r?\n|\r/)
    .map((l) => l.trimEnd())
    .filter(
      (l) => l !== '' && !/^(remote: )?(Counting|Compressing|Receiving|Resolving|Enumerating|Total|Writing|Unpacking) objects/.test(l),
    );
  const tail = lines.slice(-maxLines).join('\n');
  return tail.length > maxChars ? `…${tail.slice(-maxChars)}` : tail;
}
