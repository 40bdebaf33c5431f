import { readFile, readdir } from 'node:fs/promises';
import path from 'node:path';
import { artifactStoreConfigFromEnv, s3ConfigFrom, type ArtifactStoreConfig } from '../artifacts/config.js';
import { LocalArtifactStore } from '../artifacts/local.js';
import type { ArtifactStore, TaskRef } from '../artifacts/types.js';
import { ccflowHome } from '../home.js';
import type { ProgressEvent } from '../schemas/progress.js';

/**
 * One task's artifacts as the client reads them (transcripts, changes): a directory, or the
 * task's part of an artifact store (a local directory tree or an S3 bucket).
 */
export interface ArtifactSource {
  /** Where they are, for people: a directory or an `s3://` URI. */
  readonly where: string;
  /** Names under the task, `/`-separated, sorted. */
  list(): Promise<string[]>;
  /** One file, or undefined when it is not there. */
  read(name: string): Promise<Buffer | undefined>;
}

/** A task's artifacts directory, read as it is (`--dir`, or what a local store recorded). */
export function directorySource(dir: string): ArtifactSource {
  return {
    where: dir,
    list: async () =>
      (await readdir(dir, { recursive: true, withFileTypes: true }).catch(() => []))
        .filter((e) => e.isFile())
        .map((e) => path.relative(dir, path.join(e.parentPath, e.name)).split(path.sep).join('/'))
        .sort(),
    read: (name) => readFile(path.join(dir, ...name.split('/'))).catch(() => undefined),
  };
}

function storeSource(store: ArtifactStore, task: TaskRef): ArtifactSource {
  return { where: store.location(task), list: () => store.list(task), read: (name) => store.get(task, name) };
}

/** The S3 store lives behind a dynamic import: the SDK loads only for commands that read S3. */
async function openStore(config: ArtifactStoreConfig): Promise<ArtifactStore> {
  if (config.kind === 'local') return new LocalArtifactStore(config.dir);
  const { openArtifactStore } = await import('../artifacts/open.js');
  return openArtifactStore(config);
}

/** Where the task said its artifacts went (its result or failure), if it said. */
export function recordedLocation(event: ProgressEvent | undefined): string | undefined {
  const fromResult = event?.type === 'result' ? event.result['artifactsDir'] : undefined;
  if (typeof fromResult === 'string') return fromResult;
  if (event?.type === 'failure' && event.artifactsDir) return event.artifactsDir;
  return undefined;
}

/**
 * A task's artifacts: the directory it recorded (a local store), else the store this machine
 * is configured with (CCFLOW_ARTIFACTS / CCFLOW_ARTIFACT_DIR); when the task recorded an S3
 * location and this machine names no S3 store, that bucket and prefix with this machine's
 * endpoint and credentials. So `ccflow logs` and `ccflow diff` work wherever the store is
 * reachable.
 */
export async function artifactSourceOf(
  task: TaskRef,
  event: ProgressEvent | undefined,
  env: NodeJS.ProcessEnv = process.env,
): Promise<ArtifactSource> {
  const recorded = recordedLocation(event);
  if (recorded !== undefined && !recorded.startsWith('s3://')) return directorySource(recorded);
  const configured = artifactStoreConfigFromEnv(env, path.join(ccflowHome(env), 'artifacts'));
  const taskPart = `${encodeURIComponent(task.namespace)}/${encodeURIComponent(task.workflowId)}/`;
  if (recorded?.startsWith('s3://') && recorded.endsWith(taskPart) && configured.kind !== 's3') {
    return storeSource(await openStore(s3ConfigFrom(recorded.slice(0, -taskPart.length), env)), task);
  }
  return storeSource(await openStore(configured), task);
}
