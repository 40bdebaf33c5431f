/**
 * The follow-up tests again with the S3 artifact store (a real SeaweedFS): every session save,
 * restore into a new sandbox and continueFrom goes through S3. Selected through the harness's
 * environment switch, set before the tests load (node runs each test file in its own process).
 */
process.env.CCFLOW_TEST_ARTIFACTS = 's3';
await import('./follow-ups.test.js');
