import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { encodeComponent, insideRoot, taskDirName } from '../../src/artifacts/names.js';

describe('artifact directory names', () => {
  test('are injective: ids that used to collide get different directories', () => {
    const ids = [
      'a/b',
      'a_b',
      'a%2Fb',
      'a b',
      'a\\b',
      '..',
      '.',
      '',
      '.hidden',
      '%2E',
      'ü',
      'u\u0308',
      'x'.repeat(300),
      `${'x'.repeat(300)}y`,
    ];
    const names = ids.map(encodeComponent);
    assert.equal(new Set(names).size, ids.length, JSON.stringify(names));
    for (const n of names) {
      assert.ok(!n.includes('/') && n !== '.' && n !== '..' && !n.startsWith('.'), n);
      assert.ok(Buffer.byteLength(n) <= 200, n);
    }
  });

  test('keep ordinary ids readable', () => {
    assert.equal(encodeComponent('slow-test-1'), 'slow-test-1');
    assert.equal(encodeComponent('release-1.2@nightly'), 'release-1.2@nightly');
  });

  test('separate namespaces', () => {
    assert.notEqual(taskDirName('default', 'x'), taskDirName('other', 'x'));
    assert.notEqual(taskDirName('a/b', 'c'), taskDirName('a', 'b/c'));
  });

  test('insideRoot refuses paths that leave the root', () => {
    assert.equal(insideRoot('/s', 'a', 'b'), '/s/a/b');
    assert.throws(() => insideRoot('/s', '../etc/passwd'), /leaves/);
    assert.throws(() => insideRoot('/s', '/etc'), /leaves/);
  });
});
