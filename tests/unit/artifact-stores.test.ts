import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { inspect } from 'node:util';
import { ListMultipartUploadsCommand, S3Client } from '@aws-sdk/client-s3';
import { artifactStoreConfigFromEnv, type S3StoreConfig } from '../../src/artifacts/config.js';
import {
  ArtifactBucketNotFoundError,
  ArtifactStoreAuthError,
  ArtifactStoreError,
  ArtifactStoreUnavailableError,
} from '../../src/artifacts/errors.js';
import { LocalArtifactStore } from '../../src/artifacts/local.js';
import { S3ArtifactStore, type S3ArtifactStoreOpts } from '../../src/artifacts/s3.js';
import type { ArtifactStore } from '../../src/artifacts/types.js';
import { startFaultProxy, type FaultProxy } from '../helpers/fault-proxy.js';
import { startSeaweed, type SeaweedServer } from '../helpers/seaweedfs.js';

/**
 * The artifact store contract, run against every store (the local directory and S3 on a real
 * SeaweedFS), then what only the S3 store meets: credentials, buckets, multipart uploads and a
 * network that fails half way through one.
 */

const MiB = 1024 * 1024;
const BUCKET = 'ccflow-artifacts';

let weed: SeaweedServer;
let tmp: string;
const opened: S3ArtifactStore[] = [];

before(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), 'ccflow-artifacts-'));
  weed = await startSeaweed();
  await weed.createBucket(BUCKET);
});

after(async () => {
  for (const s of opened) s.close();
  await weed?.stop();
  await rm(tmp, { recursive: true, force: true });
});

/** An S3 store configured the way a worker is: from its environment. */
function s3Store(env: Record<string, string> = {}, opts: S3ArtifactStoreOpts = {}): S3ArtifactStore {
  const config = artifactStoreConfigFromEnv({ ...weed.env(BUCKET, 'deploy-1/'), ...env }, '/unused') as S3StoreConfig;
  assert.equal(config.kind, 's3');
  // Small parts and quick retries keep the multipart and fault tests fast; the defaults are 8 MiB and 5 attempts.
  const store = new S3ArtifactStore(config, { partSizeBytes: 5 * MiB, ...opts });
  opened.push(store);
  return store;
}

/** A stream of `bytes` random bytes in 64 KiB chunks, and its sha256. */
function randomStream(bytes: number): { stream: () => Readable; sha: string } {
  const data = randomBytes(bytes);
  return {
    stream: () =>
      Readable.from(
        (function* () {
          for (let i = 0; i < data.length; i += 64 * 1024) yield data.subarray(i, i + 64 * 1024);
        })(),
      ),
    sha: sha256(data),
  };
}

function sha256(b: Buffer): string {
  return createHash('sha256').update(b).digest('hex');
}

async function readAll(store: ArtifactStore, task: string, name: string): Promise<Buffer | undefined> {
  const opened = await store.getStream({ namespace: 'default', workflowId: task }, name);
  if (!opened) return undefined;
  const chunks: Buffer[] = [];
  for await (const c of opened.body) chunks.push(c as Buffer);
  const all = Buffer.concat(chunks);
  assert.equal(all.length, opened.bytes, 'a stream reads as many bytes as the store says it holds');
  return all;
}

const stores: Array<[string, () => ArtifactStore]> = [
  ['local directory', () => new LocalArtifactStore(path.join(tmp, 'local'))],
  ['S3 (SeaweedFS)', () => s3Store()],
];

for (const [kind, make] of stores) {
  describe(`artifact store contract: ${kind}`, () => {
    test('put, get, list and location', async () => {
      const store = make();
      await store.check();
      const task = `task-${randomBytes(3).toString('hex')}`;
      await store.put({ namespace: 'default', workflowId: task }, 'session/session.json', '{"a":1}\n');
      await store.put({ namespace: 'default', workflowId: task }, 'runs/run-1/transcript.jsonl', Buffer.from('line\n'));
      assert.equal((await store.get({ namespace: 'default', workflowId: task }, 'session/session.json'))?.toString(), '{"a":1}\n');
      assert.equal(await store.get({ namespace: 'default', workflowId: task }, 'session/missing.json'), undefined);
      assert.equal(await store.getStream({ namespace: 'default', workflowId: task }, 'nothing/here'), undefined);
      assert.deepEqual(await store.list({ namespace: 'default', workflowId: task }), [
        'runs/run-1/transcript.jsonl',
        'session/session.json',
      ]);
      assert.deepEqual(await store.list({ namespace: 'default', workflowId: 'never-stored' }), []);
      assert.ok(store.location({ namespace: 'default', workflowId: task }).includes(task));
    });

    test('a task id that is a prefix of another, or holds a slash, keeps its own files', async () => {
      const store = make();
      const base = `pre-${randomBytes(3).toString('hex')}`;
      await store.put({ namespace: 'default', workflowId: base }, 'a.txt', 'a');
      await store.put({ namespace: 'default', workflowId: `${base}/child` }, 'b.txt', 'b');
      await store.put({ namespace: 'default', workflowId: `${base}x` }, 'c.txt', 'c');
      assert.deepEqual(await store.list({ namespace: 'default', workflowId: base }), ['a.txt']);
      assert.deepEqual(await store.list({ namespace: 'default', workflowId: `${base}/child` }), ['b.txt']);
      // The same workflow id in another namespace (another tenant) is another task.
      await store.put({ namespace: 'other', workflowId: base }, 'd.txt', 'd');
      assert.deepEqual(await store.list({ namespace: 'other', workflowId: base }), ['d.txt']);
      assert.deepEqual(await store.list({ namespace: 'default', workflowId: base }), ['a.txt']);
      assert.equal(await store.get({ namespace: 'default', workflowId: base }, 'd.txt'), undefined);
    });

    test('putStream stores a large stream whole, and getStream reads it back', async () => {
      const store = make();
      const task = `big-${randomBytes(3).toString('hex')}`;
      const { stream, sha } = randomStream(12 * MiB + 12_345); // three parts of 5 MiB on S3
      let progress = 0;
      const stored = await store.putStream({ namespace: 'default', workflowId: task }, 'session/workspace.tar.gz', stream(), {
        onProgress: (n) => (progress = n),
      });
      assert.equal(stored.bytes, 12 * MiB + 12_345);
      assert.ok(progress > 0, 'progress is reported while uploading');
      const back = await readAll(store, task, 'session/workspace.tar.gz');
      assert.equal(back && sha256(back), sha);
      // Overwriting keeps one version, the new one.
      await store.putStream({ namespace: 'default', workflowId: task }, 'session/workspace.tar.gz', Readable.from([Buffer.from('small')]));
      assert.equal((await store.get({ namespace: 'default', workflowId: task }, 'session/workspace.tar.gz'))?.toString(), 'small');
      assert.deepEqual(await store.list({ namespace: 'default', workflowId: task }), ['session/workspace.tar.gz']);
    });

    test('a source that fails half way leaves the previous version, whole', async () => {
      const store = make();
      const task = `broken-${randomBytes(3).toString('hex')}`;
      await store.put({ namespace: 'default', workflowId: task }, 'w.tar.gz', 'version 1');
      const failing = Readable.from(
        (async function* () {
          yield randomBytes(6 * MiB);
          throw new Error('the sandbox went away while the tarball was read');
        })(),
      );
      await assert.rejects(store.putStream({ namespace: 'default', workflowId: task }, 'w.tar.gz', failing), /sandbox went away/);
      assert.equal((await store.get({ namespace: 'default', workflowId: task }, 'w.tar.gz'))?.toString(), 'version 1');
      await assert.rejects(
        store.putStream(
          { namespace: 'default', workflowId: task },
          'new.tar.gz',
          Readable.from(
            (async function* () {
              yield Buffer.from('partial');
              throw new Error('gone');
            })(),
          ),
        ),
        /gone/,
      );
      assert.equal(await store.get({ namespace: 'default', workflowId: task }, 'new.tar.gz'), undefined);
      assert.deepEqual(await store.list({ namespace: 'default', workflowId: task }), ['w.tar.gz']);
    });
  });
}

describe('S3 store: configuration and clear errors', () => {
  test('a wrong secret fails with ArtifactStoreAuthError that says what to fix, and never shows the secret', async () => {
    const store = s3Store({ AWS_SECRET_ACCESS_KEY: 'not-the-secret-0123456789' });
    for (const call of [
      () => store.check(),
      () => store.put({ namespace: 'default', workflowId: 't' }, 'a.txt', 'x'),
      () => store.get({ namespace: 'default', workflowId: 't' }, 'a.txt'),
      () => store.list({ namespace: 'default', workflowId: 't' }),
    ]) {
      await assert.rejects(call(), (err: unknown) => {
        assert.ok(err instanceof ArtifactStoreAuthError, `got ${inspect(err)}`);
        assert.equal(err.retryable, false);
        assert.match(
          err.message,
          /refused ccflow's credentials for s3:\/\/ccflow-artifacts\/deploy-1\/ \(SignatureDoesNotMatch, HTTP 403\)/,
        );
        assert.match(err.message, /AWS_SECRET_ACCESS_KEY/);
        assert.doesNotMatch(inspect(err, { depth: 10 }), /not-the-secret/);
        return true;
      });
    }
    // A streamed upload too (lib-storage), with nothing left behind.
    await assert.rejects(
      store.putStream({ namespace: 'default', workflowId: 't' }, 'big', randomStream(7 * MiB).stream()),
      ArtifactStoreAuthError,
    );
  });

  test('an unknown access key fails with ArtifactStoreAuthError naming the key', async () => {
    const store = s3Store({ AWS_ACCESS_KEY_ID: 'nosuchkey' });
    await assert.rejects(store.check(), (err: unknown) => {
      assert.ok(err instanceof ArtifactStoreAuthError);
      assert.match(err.message, /InvalidAccessKeyId/);
      assert.match(err.message, /access key nosuchkey/);
      return true;
    });
  });

  test('a missing bucket fails with ArtifactBucketNotFoundError, on check and on every call', async () => {
    const config = artifactStoreConfigFromEnv({ ...weed.env('no-such-bucket', 'p/') }, '/unused') as S3StoreConfig;
    const store = new S3ArtifactStore(config);
    opened.push(store);
    for (const call of [
      () => store.check(),
      () => store.put({ namespace: 'default', workflowId: 't' }, 'a.txt', 'x'),
      () => store.get({ namespace: 'default', workflowId: 't' }, 'a.txt'),
      () => store.list({ namespace: 'default', workflowId: 't' }),
    ]) {
      await assert.rejects(call(), (err: unknown) => {
        assert.ok(err instanceof ArtifactBucketNotFoundError, `got ${inspect(err)}`);
        assert.match(err.message, /bucket "no-such-bucket" does not exist at http:\/\/127\.0\.0\.1:\d+/);
        assert.match(err.message, /ccflow never creates buckets/);
        return true;
      });
    }
  });

  test('a server that is not there fails as retryable ArtifactStoreUnavailableError after retries', async () => {
    const proxy = await startFaultProxy({ host: '127.0.0.1', port: Number(new URL(weed.endpoint).port) });
    try {
      proxy.down();
      const store = s3Store({ CCFLOW_S3_ENDPOINT: proxy.url }, { maxAttempts: 2 });
      await assert.rejects(store.check(), (err: unknown) => {
        assert.ok(err instanceof ArtifactStoreUnavailableError, `got ${inspect(err)}`);
        assert.equal(err.retryable, true);
        assert.match(err.message, /unavailable \(ECONNRESET\)/);
        return true;
      });
    } finally {
      await proxy.close();
    }
  });

  test('credentials never show when the configuration is printed or serialised', () => {
    const config = artifactStoreConfigFromEnv(weed.env(BUCKET, 'x'), '/unused');
    assert.doesNotMatch(JSON.stringify(config), /ccflowtestsecret/);
    assert.doesNotMatch(inspect(config, { depth: 10 }), /ccflowtestsecret/);
    assert.match(JSON.stringify(config), /ccflowtestkey/);
  });
});

describe('S3 store: interrupted uploads', () => {
  let proxy: FaultProxy;
  let direct: S3ArtifactStore;
  before(async () => {
    proxy = await startFaultProxy({ host: '127.0.0.1', port: Number(new URL(weed.endpoint).port) });
    direct = s3Store();
  });
  after(async () => {
    await proxy.close();
  });

  /** Multipart uploads the server still holds open for a task. */
  async function openUploads(task: string): Promise<string[]> {
    const client = new S3Client({ endpoint: weed.endpoint, region: 'us-east-1', forcePathStyle: true, credentials: weed.credentials });
    try {
      const res = await client.send(new ListMultipartUploadsCommand({ Bucket: BUCKET, Prefix: `deploy-1/${task}/` }));
      return (res.Uploads ?? []).map((u) => u.Key ?? '');
    } finally {
      client.destroy();
    }
  }

  test('connections reset in the middle of parts are retried, and the object is stored whole', async () => {
    const store = s3Store({ CCFLOW_S3_ENDPOINT: proxy.url });
    const task = `flaky-${randomBytes(3).toString('hex')}`;
    const { stream, sha } = randomStream(16 * MiB);
    const before = proxy.resets;
    proxy.interrupt({ afterBytes: 2 * MiB, times: 2 });
    await store.putStream({ namespace: 'default', workflowId: task }, 'session/workspace.tar.gz', stream());
    assert.equal(proxy.resets - before, 2, 'two part uploads were cut half way');
    const back = await readAll(direct, task, 'session/workspace.tar.gz');
    assert.equal(back && sha256(back), sha);
  });

  test('a single PUT reset half way is retried and stored whole', async () => {
    const store = s3Store({ CCFLOW_S3_ENDPOINT: proxy.url });
    const task = `flaky-put-${randomBytes(3).toString('hex')}`;
    const data = randomBytes(1 * MiB);
    const before = proxy.resets;
    proxy.interrupt({ afterBytes: 256 * 1024, times: 1 });
    await store.put({ namespace: 'default', workflowId: task }, 'session/abc.jsonl', data);
    assert.equal(proxy.resets - before, 1);
    assert.equal(
      sha256((await direct.get({ namespace: 'default', workflowId: task }, 'session/abc.jsonl')) ?? Buffer.alloc(0)),
      sha256(data),
    );
  });

  test('an upload whose network dies for good fails, leaves no object that reads as complete, and its retry stores it whole', async () => {
    const task = `dead-${randomBytes(3).toString('hex')}`;
    await direct.put({ namespace: 'default', workflowId: task }, 'session/workspace.tar.gz', 'turn 1 workspace');
    const { stream, sha } = randomStream(18 * MiB);
    const store = s3Store({ CCFLOW_S3_ENDPOINT: proxy.url }, { maxAttempts: 2 });
    // Parts get through until the network dies under the third one.
    let cut = false;
    const upload = store.putStream({ namespace: 'default', workflowId: task }, 'session/workspace.tar.gz', stream(), {
      onProgress: (n) => {
        if (!cut && n >= 10 * MiB) {
          cut = true;
          proxy.down();
        }
      },
    });
    await assert.rejects(upload, (err: unknown) => {
      assert.ok(err instanceof ArtifactStoreError, `got ${inspect(err)}`);
      assert.equal(err.retryable, true);
      return true;
    });
    proxy.up();
    assert.ok(cut, 'the network died during the upload');
    // Readers see the previous version, whole; never the parts that got through.
    assert.equal(
      (await direct.get({ namespace: 'default', workflowId: task }, 'session/workspace.tar.gz'))?.toString(),
      'turn 1 workspace',
    );
    assert.deepEqual(await direct.list({ namespace: 'default', workflowId: task }), ['session/workspace.tar.gz']);
    // The activity's retry (a fresh stream of the same file) stores it whole.
    await store.putStream({ namespace: 'default', workflowId: task }, 'session/workspace.tar.gz', stream());
    const back = await readAll(direct, task, 'session/workspace.tar.gz');
    assert.equal(back && sha256(back), sha);
  });

  test('an aborted upload is aborted on the server too: no object, no open multipart upload', async () => {
    const task = `aborted-${randomBytes(3).toString('hex')}`;
    const abort = new AbortController();
    const upload = direct.putStream({ namespace: 'default', workflowId: task }, 'big.tar.gz', randomStream(20 * MiB).stream(), {
      signal: abort.signal,
      onProgress: (n) => {
        if (n >= 5 * MiB) abort.abort();
      },
    });
    await assert.rejects(upload, (err: unknown) => err instanceof Error && err.name === 'AbortError');
    assert.equal(await direct.get({ namespace: 'default', workflowId: task }, 'big.tar.gz'), undefined);
    assert.deepEqual(await openUploads(task), []);
  });
});
