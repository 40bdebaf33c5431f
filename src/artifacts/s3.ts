import { Readable, Transform } from 'node:stream';
import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand, S3Client, paginateListObjectsV2 } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import type { S3StoreConfig } from './config.js';
import { ArtifactStoreError } from './errors.js';
import { isMissingKey, translateS3Error, type S3Where } from './s3-errors.js';
import type { ArtifactGetStreamOpts, ArtifactPutStreamOpts, ArtifactReadStream, ArtifactStore, StoredArtifact, TaskRef } from './types.js';

export interface S3ArtifactStoreOpts {
  /**
   * Size of one part of a multipart upload; a stream shorter than one part is stored with a
   * single PUT. S3 requires at least 5 MiB.
   * @default 8_388_608 // 8 MiB
   */
  partSizeBytes?: number;
  /**
   * Parts uploaded at once; an upload holds at most partSizeBytes × this in memory.
   * @default 2
   */
  queueSize?: number;
  /**
   * Attempts per request, with exponential backoff and jitter between them (the SDK's
   * standard retry mode): refused connections, resets, timeouts, 5xx and throttling.
   * @default 5
   */
  maxAttempts?: number;
  /**
   * A request whose socket stays idle this long is failed (and retried).
   * @default 60_000 // 60 seconds
   */
  requestTimeoutMs?: number;
  /** @default 10_000 // 10 seconds */
  connectTimeoutMs?: number;
}

/**
 * Keeps artifacts in an S3-compatible bucket: `<prefix><namespace>/<workflow id>/<name>`, both
 * URI-encoded (a `/` included) so that one task's files never list under another's, nor one
 * namespace's under another's. Any worker on any host
 * reads what any other stored.
 *
 * No reader ever sees a partial object: a single PUT becomes visible only when the server has
 * the whole body (its length is sent and checked, with a CRC32 checksum), and a multipart
 * upload only at CompleteMultipartUpload; a failed or aborted upload is aborted on the server,
 * leaving the previous version (or nothing) in place. That is S3's own guarantee, so no
 * temporary key and copy is needed (a copy would also double every write).
 */
export class S3ArtifactStore implements ArtifactStore {
  readonly #client: S3Client;
  readonly #where: S3Where;
  readonly #partSize: number;
  readonly #queueSize: number;

  constructor(
    readonly config: S3StoreConfig,
    opts: S3ArtifactStoreOpts = {},
  ) {
    this.#partSize = opts.partSizeBytes ?? 8 * 1024 * 1024;
    if (this.#partSize < 5 * 1024 * 1024)
      throw new ArtifactStoreError('partSizeBytes must be at least 5 MiB (an S3 rule)', { retryable: false });
    this.#queueSize = opts.queueSize ?? 2;
    this.#where = {
      uri: `s3://${config.bucket}/${config.prefix}`,
      bucket: config.bucket,
      ...(config.endpoint ? { endpoint: config.endpoint } : {}),
      ...(config.credentials ? { accessKeyId: config.credentials.accessKeyId } : {}),
    };
    // The pinned SDK supports Node 20 but warns on every start that later releases will not;
    // it is pinned for exactly that reason, so the warning tells an operator nothing.
    process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
    this.#client = new S3Client({
      region: config.region,
      forcePathStyle: config.forcePathStyle,
      ...(config.endpoint ? { endpoint: config.endpoint } : {}),
      ...(config.credentials ? { credentials: config.credentials.forSdk() } : {}),
      maxAttempts: opts.maxAttempts ?? 5,
      retryMode: 'standard',
      requestHandler: { requestTimeout: opts.requestTimeoutMs ?? 60_000, connectionTimeout: opts.connectTimeoutMs ?? 10_000 },
    });
  }

  location(task: TaskRef): string {
    return `s3://${this.config.bucket}/${this.#taskPrefix(task)}`;
  }

  async put(task: TaskRef, name: string, content: Buffer | string): Promise<string> {
    const key = this.#key(task, name);
    const body = typeof content === 'string' ? Buffer.from(content, 'utf8') : content;
    try {
      await this.#client.send(new PutObjectCommand({ Bucket: this.config.bucket, Key: key, Body: body, ContentLength: body.length }));
    } catch (err) {
      throw translateS3Error(err, `storing ${key}`, this.#where);
    }
    return this.#uri(key);
  }

  async putStream(task: TaskRef, name: string, body: Readable, opts: ArtifactPutStreamOpts = {}): Promise<StoredArtifact> {
    const key = this.#key(task, name);
    let bytes = 0;
    // Counted as the uploader reads, so the size is known without asking the server.
    const counted = body.pipe(
      new Transform({
        transform(chunk: Buffer, _enc, done) {
          bytes += chunk.length;
          done(null, chunk);
        },
      }),
    );
    // pipe() does not forward errors: a source that fails must fail the upload, not end it short.
    let sourceError: Error | undefined;
    body.once('error', (err) => {
      sourceError = err;
      counted.destroy(err);
    });
    // An abort fails the source rather than the uploader: the uploader then aborts the multipart
    // upload on the server before done() rejects (its own abort signal rejects first and cleans
    // up later, so a caller could see the rejection while parts still sit on the server).
    const onAbort = () => counted.destroy(abortError(opts.signal?.reason));
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    if (opts.signal?.aborted) onAbort();
    const upload = new Upload({
      client: this.#client,
      params: { Bucket: this.config.bucket, Key: key, Body: counted },
      partSize: this.#partSize,
      queueSize: this.#queueSize,
      // Parts of a failed upload are aborted on the server, so nothing half-written remains.
      leavePartsOnError: false,
    });
    if (opts.onProgress) {
      const report = opts.onProgress;
      upload.on('httpUploadProgress', (p) => {
        if (p.loaded !== undefined) report(p.loaded);
      });
    }
    try {
      await upload.done();
    } catch (err) {
      body.destroy();
      // The source's own failure (the sandbox went away, a size limit) is the caller's to read.
      throw sourceError ?? translateS3Error(err, `storing ${key}`, this.#where);
    } finally {
      opts.signal?.removeEventListener('abort', onAbort);
    }
    return { location: this.#uri(key), bytes };
  }

  async get(task: TaskRef, name: string): Promise<Buffer | undefined> {
    const opened = await this.getStream(task, name);
    if (!opened) return undefined;
    const chunks: Buffer[] = [];
    try {
      for await (const chunk of opened.body) chunks.push(chunk as Buffer);
    } catch (err) {
      throw translateS3Error(err, `reading ${this.#key(task, name)}`, this.#where);
    }
    return Buffer.concat(chunks);
  }

  async getStream(task: TaskRef, name: string, opts: ArtifactGetStreamOpts = {}): Promise<ArtifactReadStream | undefined> {
    const key = this.#key(task, name);
    try {
      const res = await this.#client.send(
        new GetObjectCommand({ Bucket: this.config.bucket, Key: key }),
        opts.signal ? { abortSignal: opts.signal } : {},
      );
      // In Node the SDK's body is the response stream itself (an IncomingMessage).
      if (!(res.Body instanceof Readable)) throw new ArtifactStoreError(`the S3 client returned no stream for ${key}`, { retryable: true });
      return { body: res.Body, bytes: res.ContentLength ?? 0 };
    } catch (err) {
      if (isMissingKey(err)) return undefined;
      throw translateS3Error(err, `reading ${key}`, this.#where);
    }
  }

  async list(task: TaskRef): Promise<string[]> {
    const prefix = this.#taskPrefix(task);
    const names: string[] = [];
    try {
      for await (const page of paginateListObjectsV2({ client: this.#client }, { Bucket: this.config.bucket, Prefix: prefix })) {
        for (const o of page.Contents ?? []) if (o.Key) names.push(o.Key.slice(prefix.length));
      }
    } catch (err) {
      throw translateS3Error(err, `listing ${prefix}`, this.#where);
    }
    return names.sort();
  }

  /** One listing of the prefix: answers NoSuchBucket or an auth error with its code (a HEAD would not say which). */
  async check(): Promise<void> {
    try {
      await this.#client.send(new ListObjectsV2Command({ Bucket: this.config.bucket, Prefix: this.config.prefix, MaxKeys: 1 }));
    } catch (err) {
      throw translateS3Error(err, 'checking the bucket', this.#where);
    }
  }

  /** Closes the client's sockets. */
  close(): void {
    this.#client.destroy();
  }

  #taskPrefix(task: TaskRef): string {
    if (task.workflowId === '' || task.namespace === '') {
      throw new ArtifactStoreError('an empty namespace or workflow id has no artifacts', { retryable: false });
    }
    return `${this.config.prefix}${encodeURIComponent(task.namespace)}/${encodeURIComponent(task.workflowId)}/`;
  }

  #key(task: TaskRef, name: string): string {
    const parts = name.split('/');
    if (parts.some((p) => p === '' || p === '.' || p === '..')) {
      throw new ArtifactStoreError(`"${name}" is not an artifact name (empty, "." or ".." segment)`, { retryable: false });
    }
    return `${this.#taskPrefix(task)}${name}`;
  }

  #uri(key: string): string {
    return `s3://${this.config.bucket}/${key}`;
  }
}

/** The error an aborted upload rejects with: the signal's reason when it is one, else an AbortError. */
function abortError(reason: unknown): Error {
  if (reason instanceof Error && reason.name === 'AbortError') return reason;
  return new DOMException('the upload was aborted', 'AbortError');
}
