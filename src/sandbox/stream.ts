import { Readable } from 'node:stream';
import type { Sandbox } from './types.js';

/**
 * A file in a sandbox as a stream, read in chunks through `readFileFrom`, so any provider can
 * hand a large file (a workspace tarball) to the artifact store without holding it whole.
 * Meant for files nothing writes to any more; it ends at the first empty read, or after
 * `maxBytes` (files the agent writes are kept to a bounded head).
 * @param chunkBytes @default 4_194_304 // 4 MiB
 */
export function sandboxFileStream(sandbox: Sandbox, path: string, chunkBytes = 4 * 1024 * 1024, maxBytes = Infinity): Readable {
  return Readable.from(
    (async function* () {
      for (let offset = 0; offset < maxBytes;) {
        const chunk = await sandbox.readFileFrom(path, offset, Math.min(chunkBytes, maxBytes - offset));
        if (chunk.length === 0) return;
        offset += chunk.length;
        yield chunk;
      }
    })(),
    { objectMode: false },
  );
}
