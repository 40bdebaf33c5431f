import { inspect } from 'node:util';
import { ArtifactStoreConfigError } from './errors.js';

/**
 * Which artifact store a process uses, read from its environment (given, never process.env
 * here): `CCFLOW_ARTIFACTS=s3://bucket/prefix` selects the S3-compatible store, with the usual
 * AWS variables for credentials and region and an endpoint for non-AWS servers; otherwise the
 * local directory `CCFLOW_ARTIFACT_DIR` (one machine) is used.
 */
export type ArtifactStoreConfig = LocalStoreConfig | S3StoreConfig;

export interface LocalStoreConfig {
  kind: 'local';
  dir: string;
}

export interface S3StoreConfig {
  kind: 's3';
  bucket: string;
  /** Key prefix every object of this deployment sits under: '' or ending in '/'. */
  prefix: string;
  /** Absent for AWS itself; set for SeaweedFS, MinIO, R2 and the like. */
  endpoint?: string;
  region: string;
  /** `bucket.host` addressing fails on most self-hosted servers: path style is the default with an endpoint. */
  forcePathStyle: boolean;
  /** Absent: the AWS SDK's own chain (profile, container or instance role). */
  credentials?: S3Credentials;
}

/**
 * Static S3 credentials. Printing or serialising them shows no secret, so a config logged
 * whole, or an error carrying it, leaks nothing.
 */
export class S3Credentials {
  readonly #secretAccessKey: string;
  readonly #sessionToken: string | undefined;
  constructor(
    readonly accessKeyId: string,
    secretAccessKey: string,
    sessionToken?: string,
  ) {
    this.#secretAccessKey = secretAccessKey;
    this.#sessionToken = sessionToken;
  }
  /** The form the AWS SDK takes. */
  forSdk(): { accessKeyId: string; secretAccessKey: string; sessionToken?: string } {
    return {
      accessKeyId: this.accessKeyId,
      secretAccessKey: this.#secretAccessKey,
      ...(this.#sessionToken ? { sessionToken: this.#sessionToken } : {}),
    };
  }
  toJSON(): string {
    return `S3Credentials(${this.accessKeyId}, secret redacted)`;
  }
  [inspect.custom](): string {
    return this.toJSON();
  }
}

/** Variables that name the S3 endpoint, strongest first: ccflow's own, then the AWS SDK's standard ones. */
export const S3_ENDPOINT_VARIABLES = ['CCFLOW_S3_ENDPOINT', 'AWS_ENDPOINT_URL_S3', 'AWS_ENDPOINT_URL'] as const;

export function artifactStoreConfigFromEnv(env: Readonly<Record<string, string | undefined>>, defaultDir: string): ArtifactStoreConfig {
  const selected = env.CCFLOW_ARTIFACTS?.trim() || undefined;
  const dir = env.CCFLOW_ARTIFACT_DIR?.trim() || undefined;
  if (!selected) return { kind: 'local', dir: dir ?? defaultDir };
  if (selected.startsWith('s3://')) {
    if (dir) {
      throw new ArtifactStoreConfigError(
        `CCFLOW_ARTIFACTS (${selected}) and CCFLOW_ARTIFACT_DIR (${dir}) are both set: keep one (CCFLOW_ARTIFACTS selects the store)`,
      );
    }
    return s3ConfigFrom(selected, env);
  }
  if (selected.startsWith('file://')) return { kind: 'local', dir: new URL(selected).pathname };
  if (selected.startsWith('/')) return { kind: 'local', dir: selected };
  throw new ArtifactStoreConfigError(
    `CCFLOW_ARTIFACTS must be s3://<bucket>/<prefix>, file:///<dir> or an absolute directory, not "${selected}"`,
  );
}

/** Parses `s3://bucket/optional/prefix` plus the endpoint, region and credential variables. */
export function s3ConfigFrom(uri: string, env: Readonly<Record<string, string | undefined>>): S3StoreConfig {
  const m = /^s3:\/\/([^/?#]+)(?:\/([^?#]*))?$/.exec(uri);
  const bucket = m?.[1];
  if (!m || !bucket) throw new ArtifactStoreConfigError(`"${uri}" is not an S3 location: write s3://<bucket>/<prefix>`);
  // S3's own bucket naming rules (3-63 lowercase letters, digits, dots and hyphens).
  if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(bucket)) {
    throw new ArtifactStoreConfigError(`"${bucket}" is not a valid bucket name (3-63 lowercase letters, digits, "." and "-")`);
  }
  const segments = (m[2] ?? '').split('/').filter((s) => s !== '');
  if (segments.some((s) => s === '.' || s === '..'))
    throw new ArtifactStoreConfigError(`the prefix of "${uri}" may not contain "." or ".." segments`);
  const prefix = segments.length > 0 ? `${segments.join('/')}/` : '';

  const named: Array<[(typeof S3_ENDPOINT_VARIABLES)[number], string | undefined]> = [
    ['CCFLOW_S3_ENDPOINT', env.CCFLOW_S3_ENDPOINT],
    ['AWS_ENDPOINT_URL_S3', env.AWS_ENDPOINT_URL_S3],
    ['AWS_ENDPOINT_URL', env.AWS_ENDPOINT_URL],
  ];
  const [endpointVar, endpoint] = named.map(([v, value]) => [v, value?.trim()] as const).find(([, value]) => value) ?? [];
  if (endpoint !== undefined) {
    let url: URL;
    try {
      url = new URL(endpoint);
    } catch {
      throw new ArtifactStoreConfigError(`${endpointVar} must be a URL like http://127.0.0.1:8333, not "${endpoint}"`);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      throw new ArtifactStoreConfigError(`${endpointVar} must be an http(s) URL, not "${endpoint}"`);
    }
  }

  const accessKeyId = env.AWS_ACCESS_KEY_ID?.trim() || undefined;
  const secretAccessKey = env.AWS_SECRET_ACCESS_KEY || undefined;
  if (Boolean(accessKeyId) !== Boolean(secretAccessKey)) {
    throw new ArtifactStoreConfigError(
      `set both AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY for ${uri}, or neither (to use the AWS SDK's profile or role credentials)`,
    );
  }

  const pathStyle = env.CCFLOW_S3_FORCE_PATH_STYLE?.trim();
  if (pathStyle !== undefined && pathStyle !== '' && pathStyle !== '1' && pathStyle !== '0') {
    throw new ArtifactStoreConfigError(`CCFLOW_S3_FORCE_PATH_STYLE must be 1 or 0, not "${pathStyle}"`);
  }

  return {
    kind: 's3',
    bucket,
    prefix,
    ...(endpoint ? { endpoint } : {}),
    region: env.AWS_REGION?.trim() || env.AWS_DEFAULT_REGION?.trim() || 'us-east-1',
    forcePathStyle: pathStyle ? pathStyle === '1' : endpoint !== undefined,
    ...(accessKeyId && secretAccessKey
      ? { credentials: new S3Credentials(accessKeyId, secretAccessKey, env.AWS_SESSION_TOKEN || undefined) }
      : {}),
  };
}
