/**
 * The secret that signs sandbox tokens. Workers that must accept each other's tokens (several
 * workers behind one CCFLOW_MODEL_PROXY_URL) share it through CCFLOW_PROXY_SECRET; otherwise
 * each host keeps its own in a 0600 file, so tokens survive a worker restart.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';

const MIN_BYTES = 32;

/** Decodes a configured secret (hex or base64, at least 32 bytes). */
export function parseSecret(raw: string, name = 'CCFLOW_PROXY_SECRET'): Buffer {
  const s = raw.trim();
  const buf = /^[0-9a-fA-F]+$/.test(s) && s.length % 2 === 0 ? Buffer.from(s, 'hex') : Buffer.from(s, 'base64');
  if (buf.length < MIN_BYTES)
    throw new Error(`${name} must hold at least ${MIN_BYTES} random bytes (hex or base64), e.g. \`openssl rand -hex 32\``);
  return buf;
}

/** Reads the secret file, creating it (0600) with fresh random bytes the first time. */
export async function loadOrCreateSecret(file: string): Promise<Buffer> {
  const existing = await readFile(file, 'utf8').catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return undefined;
    throw err;
  });
  if (existing !== undefined) return parseSecret(existing, file);
  await mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
  const fresh = randomBytes(MIN_BYTES).toString('hex');
  try {
    // wx: two workers starting at once on one host end up with the same secret.
    await writeFile(file, `${fresh}\n`, { mode: 0o600, flag: 'wx' });
    return Buffer.from(fresh, 'hex');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    return parseSecret(await readFile(file, 'utf8'), file);
  }
}
