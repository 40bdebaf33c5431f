/**
 * Large files between a sandbox and the artifact store, on both providers: a Readable written
 * into the sandbox arrives whole, and sandboxFileStream reads a file back in chunks.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { LocalSandboxProvider } from '../../src/sandbox/local/index.js';
import { sandboxFileStream } from '../../src/sandbox/stream.js';
import type { SandboxProvider } from '../../src/sandbox/types.js';
import { localSandboxMounts } from '../../src/worker/index.js';
import { startDouble, type DoubleFixture } from '../e2b-server/fixtures.js';

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

async function roundTrip(provider: SandboxProvider): Promise<void> {
  const sandbox = await provider.create({ metadata: { owner: 'ccflow', workflowId: 'streams' } });
  try {
    const data = randomBytes(9 * 1024 * 1024 + 123);
    // 64 KiB chunks, as an S3 response body arrives.
    const chunks = Readable.from(
      (function* () {
        for (let i = 0; i < data.length; i += 65_536) yield data.subarray(i, i + 65_536);
      })(),
    );
    await sandbox.writeFile('/home/user/.ccflow/session/restore.tar.gz', chunks);
    const back: Buffer[] = [];
    for await (const c of sandboxFileStream(sandbox, '/home/user/.ccflow/session/restore.tar.gz', 1024 * 1024)) back.push(c as Buffer);
    assert.equal(sha(Buffer.concat(back)), sha(data));
    // A missing file streams as nothing.
    const none: Buffer[] = [];
    for await (const c of sandboxFileStream(sandbox, '/home/user/.ccflow/nothing')) none.push(c as Buffer);
    assert.equal(Buffer.concat(none).length, 0);
  } finally {
    await provider.destroy(sandbox.sandboxId);
  }
}

describe('streams in and out of sandboxes', () => {
  let tmp: string;
  let d: DoubleFixture;
  before(async () => {
    tmp = await mkdtemp(path.join(os.tmpdir(), 'ccflow-streams-'));
    d = await startDouble();
  });
  after(async () => {
    await d?.close();
    await rm(tmp, { recursive: true, force: true });
  });

  test('local (bubblewrap) sandbox', async () => {
    await roundTrip(new LocalSandboxProvider({ rootDir: tmp, mounts: localSandboxMounts() }));
  });

  test('E2B sandbox (the e2b SDK streaming to the local envd double)', async () => {
    await roundTrip(d.provider());
  });
});
