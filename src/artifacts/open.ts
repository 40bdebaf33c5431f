import type { ArtifactStoreConfig } from './config.js';
import { LocalArtifactStore } from './local.js';
import { S3ArtifactStore } from './s3.js';
import type { ArtifactStore } from './types.js';

/** The store a configuration names. */
export function openArtifactStore(config: ArtifactStoreConfig): ArtifactStore {
  switch (config.kind) {
    case 'local':
      return new LocalArtifactStore(config.dir);
    case 's3':
      return new S3ArtifactStore(config);
    default: {
      const never: never = config;
      throw new Error(`unknown artifact store ${JSON.stringify(never)}`);
    }
  }
}

/** Where a configuration stores, for people (never a secret). */
export function describeArtifactStore(config: ArtifactStoreConfig): string {
  if (config.kind === 'local') return config.dir;
  return `s3://${config.bucket}/${config.prefix}${config.endpoint ? ` at ${config.endpoint}` : ''}`;
}
