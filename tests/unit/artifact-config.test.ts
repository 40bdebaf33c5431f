import assert from 'node:assert/strict';
import { test } from 'node:test';
import { artifactStoreConfigFromEnv, type S3StoreConfig } from '../../src/artifacts/config.js';
import { ArtifactStoreConfigError } from '../../src/artifacts/errors.js';

const s3 = (env: Record<string, string>): S3StoreConfig => {
  const c = artifactStoreConfigFromEnv(env, '/default');
  assert.equal(c.kind, 's3');
  return c as S3StoreConfig;
};

test('without CCFLOW_ARTIFACTS the local directory is the store', () => {
  assert.deepEqual(artifactStoreConfigFromEnv({}, '/default'), { kind: 'local', dir: '/default' });
  assert.deepEqual(artifactStoreConfigFromEnv({ CCFLOW_ARTIFACT_DIR: '/data/a' }, '/default'), { kind: 'local', dir: '/data/a' });
  assert.deepEqual(artifactStoreConfigFromEnv({ CCFLOW_ARTIFACTS: 'file:///srv/x' }, '/default'), { kind: 'local', dir: '/srv/x' });
  assert.deepEqual(artifactStoreConfigFromEnv({ CCFLOW_ARTIFACTS: '/srv/y' }, '/default'), { kind: 'local', dir: '/srv/y' });
});

test('s3://bucket/prefix: bucket, a normalised prefix, AWS defaults', () => {
  const c = s3({ CCFLOW_ARTIFACTS: 's3://my-bucket/ccflow//prod/' });
  assert.equal(c.bucket, 'my-bucket');
  assert.equal(c.prefix, 'ccflow/prod/');
  assert.equal(c.endpoint, undefined);
  assert.equal(c.region, 'us-east-1');
  assert.equal(c.forcePathStyle, false, 'virtual-hosted style on AWS');
  assert.equal(c.credentials, undefined, "the SDK's own chain (roles, profiles) when no keys are set");
  assert.equal(s3({ CCFLOW_ARTIFACTS: 's3://my-bucket' }).prefix, '');
});

test('endpoint: ccflow variable first, then the AWS SDK standard ones; path style with an endpoint', () => {
  assert.equal(s3({ CCFLOW_ARTIFACTS: 's3://b-1/p', AWS_ENDPOINT_URL: 'http://a:1' }).endpoint, 'http://a:1');
  assert.equal(
    s3({ CCFLOW_ARTIFACTS: 's3://b-1/p', AWS_ENDPOINT_URL: 'http://a:1', AWS_ENDPOINT_URL_S3: 'http://b:2' }).endpoint,
    'http://b:2',
  );
  const c = s3({ CCFLOW_ARTIFACTS: 's3://b-1/p', AWS_ENDPOINT_URL_S3: 'http://b:2', CCFLOW_S3_ENDPOINT: 'http://c:3' });
  assert.equal(c.endpoint, 'http://c:3');
  assert.equal(c.forcePathStyle, true);
  assert.equal(
    s3({ CCFLOW_ARTIFACTS: 's3://b-1/p', CCFLOW_S3_ENDPOINT: 'http://c:3', CCFLOW_S3_FORCE_PATH_STYLE: '0' }).forcePathStyle,
    false,
  );
});

test('region and credentials from the standard AWS variables', () => {
  const c = s3({
    CCFLOW_ARTIFACTS: 's3://b-1',
    AWS_DEFAULT_REGION: 'eu-west-1',
    AWS_ACCESS_KEY_ID: 'AKID',
    AWS_SECRET_ACCESS_KEY: 'SECRET',
    AWS_SESSION_TOKEN: 'TOKEN',
  });
  assert.equal(c.region, 'eu-west-1');
  assert.deepEqual(c.credentials?.forSdk(), { accessKeyId: 'AKID', secretAccessKey: 'SECRET', sessionToken: 'TOKEN' });
  assert.equal(s3({ CCFLOW_ARTIFACTS: 's3://b-1', AWS_DEFAULT_REGION: 'eu-west-1', AWS_REGION: 'ap-south-1' }).region, 'ap-south-1');
  assert.doesNotMatch(JSON.stringify(c), /SECRET|TOKEN/);
});

test('configuration mistakes are refused with what to write instead', () => {
  const cases: Array<[Record<string, string>, RegExp]> = [
    [{ CCFLOW_ARTIFACTS: 's3://' }, /is not an S3 location: write s3:\/\/<bucket>\/<prefix>/],
    [{ CCFLOW_ARTIFACTS: 's3://Bad_Bucket/x' }, /not a valid bucket name/],
    [{ CCFLOW_ARTIFACTS: 's3://bucket/a/../b' }, /may not contain "\." or "\.\." segments/],
    [{ CCFLOW_ARTIFACTS: 'gs://bucket' }, /must be s3:\/\/<bucket>\/<prefix>, file:\/\/\/<dir> or an absolute directory/],
    [{ CCFLOW_ARTIFACTS: 's3://bucket', CCFLOW_ARTIFACT_DIR: '/x' }, /both set: keep one/],
    [{ CCFLOW_ARTIFACTS: 's3://bucket', AWS_ACCESS_KEY_ID: 'only-the-id' }, /set both AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY/],
    [{ CCFLOW_ARTIFACTS: 's3://bucket', CCFLOW_S3_ENDPOINT: 'localhost:8333' }, /CCFLOW_S3_ENDPOINT must be an http\(s\) URL/],
    [{ CCFLOW_ARTIFACTS: 's3://bucket', CCFLOW_S3_ENDPOINT: 'not a url' }, /CCFLOW_S3_ENDPOINT must be a URL/],
    [{ CCFLOW_ARTIFACTS: 's3://bucket', CCFLOW_S3_FORCE_PATH_STYLE: 'yes' }, /must be 1 or 0/],
  ];
  for (const [env, message] of cases) {
    assert.throws(
      () => artifactStoreConfigFromEnv(env, '/d'),
      (err: unknown) => err instanceof ArtifactStoreConfigError && message.test(err.message),
      JSON.stringify(env),
    );
  }
});
