import { NoSuchBucket, S3ServiceException } from '@aws-sdk/client-s3';
import { ArtifactBucketNotFoundError, ArtifactStoreAuthError, ArtifactStoreError, ArtifactStoreUnavailableError } from './errors.js';

/**
 * The one table from AWS SDK errors to ccflow's artifact store errors. S3 names its errors by
 * code (the SDK puts the code in `name`); HEAD answers carry no body, so their status decides.
 * Checked against SeaweedFS and the SDK 3.1175.0: a wrong secret is SignatureDoesNotMatch, an
 * unknown key InvalidAccessKeyId, both 403; a missing bucket NoSuchBucket (404).
 */
const AUTH_CODES = new Set([
  'SignatureDoesNotMatch',
  'InvalidAccessKeyId',
  'AccessDenied',
  'InvalidToken',
  'ExpiredToken',
  'TokenRefreshRequired',
  // The SDK's credential chain found nothing (no variables, profile or role).
  'CredentialsProviderError',
]);
const UNAVAILABLE_CODES = new Set(['SlowDown', 'ServiceUnavailable', 'InternalError', 'RequestTimeout', 'TimeoutError']);
const NETWORK_ERROR_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EPIPE',
  'EHOSTUNREACH',
  'ENETUNREACH',
]);

/** What the messages name: never a secret. */
export interface S3Where {
  /** `s3://bucket/prefix` */
  uri: string;
  bucket: string;
  /** The endpoint URL, or undefined for AWS itself. */
  endpoint?: string;
  /** The access key id in use (not secret), or undefined when the SDK's chain supplies credentials. */
  accessKeyId?: string;
}

/** Translates what the SDK threw during `doing` (e.g. "storing <key>") into an ArtifactStoreError. Aborts pass through. */
export function translateS3Error(err: unknown, doing: string, where: S3Where): unknown {
  if (err instanceof ArtifactStoreError || isAbort(err)) return err;
  const server = where.endpoint ?? 'AWS S3';
  const code = codeOf(err);
  const status = err instanceof S3ServiceException ? err.$metadata.httpStatusCode : undefined;
  const attempts = err instanceof S3ServiceException ? err.$metadata.attempts : undefined;
  const label = [code, status !== undefined ? `HTTP ${status}` : undefined].filter(Boolean).join(', ');

  if (err instanceof NoSuchBucket || code === 'NoSuchBucket') {
    return new ArtifactBucketNotFoundError(
      `bucket "${where.bucket}" does not exist at ${server} (${doing}): create it, or point CCFLOW_ARTIFACTS at one that exists; ccflow never creates buckets`,
      err,
    );
  }
  if ((code !== undefined && AUTH_CODES.has(code)) || status === 401 || status === 403) {
    const key = where.accessKeyId ? `access key ${where.accessKeyId}` : `the AWS SDK's default credentials (no AWS_ACCESS_KEY_ID set)`;
    return new ArtifactStoreAuthError(
      `${server} refused ccflow's credentials for ${where.uri} (${label || 'denied'}) while ${doing}: check AWS_ACCESS_KEY_ID and ` +
        `AWS_SECRET_ACCESS_KEY (in use: ${key}) and that they may read and write the bucket`,
      err,
    );
  }
  if ((code !== undefined && (UNAVAILABLE_CODES.has(code) || NETWORK_ERROR_CODES.has(code))) || (status !== undefined && status >= 500)) {
    return new ArtifactStoreUnavailableError(
      `the object store at ${server} is unavailable (${label || 'no answer'}) while ${doing}` +
        `${attempts ? ` after ${attempts} attempt(s)` : ''}; check ${where.endpoint ? 'that it runs and CCFLOW_S3_ENDPOINT' : 'the network'}`,
      err,
    );
  }
  const message = err instanceof Error ? err.message : String(err);
  return new ArtifactStoreError(`the object store at ${server} failed while ${doing} (${label || 'error'}): ${message}`, {
    retryable: status === undefined || status === 408 || status === 429,
    cause: err,
  });
}

/** Whether a GetObject / HeadObject failure means the key is absent (not the bucket). */
export function isMissingKey(err: unknown): boolean {
  const code = codeOf(err);
  return code === 'NoSuchKey' || (code === 'NotFound' && err instanceof S3ServiceException);
}

function codeOf(err: unknown): string | undefined {
  if (err instanceof S3ServiceException) return err.name;
  if (err instanceof Error) {
    const sys = (err as NodeJS.ErrnoException).code;
    if (typeof sys === 'string') return sys;
    // SDK-side errors (credential chain, timeouts) carry their kind in `name`.
    if (err.name !== 'Error') return err.name;
  }
  return undefined;
}

function isAbort(err: unknown): boolean {
  return err instanceof Error && err.name === 'AbortError';
}
