import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { formatShortStat } from '../../src/domain/git.js';
import { parseDiffSummary } from '../../src/git/changes.js';

// `git diff-tree -r -z -M --raw --numstat` of a change with a mode change, a deletion, a
// binary edit, two additions and a rename (captured from git 2.39).
const OUTPUT = [
  ':100644 100755 ac98 ac98 M',
  'f2.txt',
  ':100644 000000 587b 0000 D',
  'gone.txt',
  ':100644 100644 466c 078c M',
  'img.bin',
  ':000000 100644 0000 bdc9 A',
  'new.bin',
  ':000000 100644 0000 8ba3 A',
  'new.txt',
  ':100644 100644 ac98 e1dc R099',
  'moved.txt',
  'renamed.txt',
  '0\t0\tf2.txt',
  '0\t1\tgone.txt',
  '-\t-\timg.bin',
  '-\t-\tnew.bin',
  '1\t0\tnew.txt',
  '1\t0\t',
  'moved.txt',
  'renamed.txt',
  '',
].join('\0');

const commits = { baseCommit: 'b'.repeat(40), headCommit: 'h'.repeat(40) };

describe('change summary', () => {
  test('reads statuses, counts, renames and binaries', () => {
    const s = parseDiffSummary(OUTPUT, commits);
    assert.deepEqual(s, {
      ...commits,
      files: [
        { path: 'f2.txt', status: 'modified', insertions: 0, deletions: 0 },
        { path: 'gone.txt', status: 'deleted', insertions: 0, deletions: 1 },
        { path: 'img.bin', status: 'modified', insertions: 0, deletions: 0, binary: true },
        { path: 'new.bin', status: 'added', insertions: 0, deletions: 0, binary: true },
        { path: 'new.txt', status: 'added', insertions: 1, deletions: 0 },
        { path: 'renamed.txt', status: 'renamed', insertions: 1, deletions: 0, oldPath: 'moved.txt' },
      ],
      insertions: 2,
      deletions: 1,
      filesChanged: 6,
    });
  });

  test('stays bounded but keeps the totals', () => {
    const s = parseDiffSummary(OUTPUT, commits, 2);
    assert.equal(s.files.length, 2);
    assert.equal(s.filesChanged, 6);
    assert.equal(s.truncated, true);
    assert.equal(s.insertions, 2);
    assert.equal(s.deletions, 1);
  });

  test('paths with tabs, newlines and non-ASCII survive -z', () => {
    const out = [':000000 100644 0 1 A', 'dir/ta\tb\nnl é.txt', '3\t0\tdir/ta\tb\nnl é.txt', ''].join('\0');
    const s = parseDiffSummary(out, commits);
    assert.deepEqual(s.files, [{ path: 'dir/ta\tb\nnl é.txt', status: 'added', insertions: 3, deletions: 0 }]);
  });

  test('an empty diff is an empty summary', () => {
    assert.deepEqual(parseDiffSummary('', commits), { ...commits, files: [], insertions: 0, deletions: 0, filesChanged: 0 });
    assert.equal(formatShortStat({ filesChanged: 3, insertions: 10, deletions: 1 }), '3 files changed, 10 insertions(+), 1 deletion(-)');
    assert.equal(formatShortStat({ filesChanged: 1, insertions: 2, deletions: 0 }), '1 file changed, 2 insertions(+)');
  });
});
