import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import { checkBubblewrap, systemArgs } from '../../src/sandbox/local/bwrap.js';
import {
  detectLimits,
  LoopExt4Disk,
  RlimitLimits,
  WatchdogDisk,
  type CgroupFs,
  type LimitController,
} from '../../src/sandbox/local/limits/index.js';
import { parseMountinfo, parseProcCgroup } from '../../src/sandbox/local/limits/cgroupfs.js';

/** An in-memory cgroupfs: files are strings, directories a set; writes are recorded. */
function fakeCgroupFs(files: Record<string, string>): CgroupFs & { writes: Array<[string, string]>; dirs: Set<string> } {
  const dirs = new Set<string>();
  const writes: Array<[string, string]> = [];
  return {
    writes,
    dirs,
    read: async (f) => files[f],
    exists: async (f) => f in files || dirs.has(path.dirname(f)),
    write: async (f, v) => {
      writes.push([f, v]);
      files[f] = v;
    },
    mkdir: async (d) => void dirs.add(d),
    rmdir: async (d) => void dirs.delete(d),
  };
}

const V2_MOUNTINFO = '30 23 0:27 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate\n';

describe('finding cgroups', () => {
  test('parses /proc/self/cgroup and mountinfo of a v1 host', () => {
    const mounts = parseMountinfo(
      '32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu\n' +
        '35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n' +
        '40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd\n' +
        '41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n',
    );
    assert.deepEqual(
      mounts.map((m) => [m.mountPoint, m.fsType, m.controllers.join(',')]),
      [
        ['/sys/fs/cgroup/cpu', 'cgroup', 'cpu'],
        ['/sys/fs/cgroup/memory', 'cgroup', 'memory'],
        ['/sys/fs/cgroup/systemd', 'cgroup', ''],
        ['/sys/fs/cgroup/unified', 'cgroup2', ''],
      ],
    );
    const lines = parseProcCgroup('4:memory:/process_api/abc\n1:cpu,cpuacct:/\n0::/user.slice\n');
    assert.deepEqual(lines[1], { id: '1', controllers: ['cpu', 'cpuacct'], path: '/' });
  });
});

describe('cgroup v2 (fake tree)', () => {
  const own = '/sys/fs/cgroup/user.slice/worker.scope';
  const base = (procs: string) => ({
    [`${own}/cgroup.controllers`]: 'cpuset cpu io memory pids\n',
    [`${own}/cgroup.subtree_control`]: '\n',
    [`${own}/cgroup.procs`]: procs,
  });

  test('a worker alone in its group moves into a leaf and delegates memory, pids and cpu', async () => {
    const fs = fakeCgroupFs(base('4242\n'));
    const { controller, passedOver } = await detectLimits({
      fs,
      procCgroup: '0::/user.slice/worker.scope\n',
      mountinfo: V2_MOUNTINFO,
      pid: 4242,
    });
    assert.equal(controller.mechanism, 'cgroup2');
    assert.deepEqual(passedOver, []);
    assert.deepEqual(fs.writes.slice(0, 2), [
      [`${own}/ccflow-worker/cgroup.procs`, '4242'],
      [`${own}/cgroup.subtree_control`, '+memory +pids +cpu'],
    ]);

    fs.writes.length = 0;
    await controller.create('sbx-1', { memoryBytes: 1 << 30, processes: 100, cpuWeight: 50, cpus: 1.5 });
    const dir = `${own}/ccflow/sbx-1`;
    assert.deepEqual(Object.fromEntries(fs.writes), {
      [`${own}/ccflow/cgroup.subtree_control`]: '+memory +pids +cpu',
      [`${dir}/memory.max`]: String(1 << 30),
      [`${dir}/memory.swap.max`]: '0',
      [`${dir}/memory.oom.group`]: '1',
      [`${dir}/pids.max`]: '100',
      [`${dir}/cpu.weight`]: '50',
      [`${dir}/cpu.max`]: '150000 100000',
    });
    assert.deepEqual(controller.wrap('sbx-1', ['bwrap', '--x']).slice(3), ['sh', `${dir}/cgroup.procs`, 'bwrap', '--x']);

    assert.deepEqual(await controller.hits('sbx-1'), []);
    await fs.write(`${dir}/memory.events`, 'low 0\nhigh 0\nmax 12\noom 1\noom_kill 1\n');
    await fs.write(`${dir}/pids.events`, 'max 7\n');
    assert.deepEqual(
      (await controller.hits('sbx-1')).map((h) => [h.limit, h.detail]),
      [
        ['memory', 'the kernel killed 1 process out of memory (limit 1 GiB)'],
        ['processes', '7 forks were refused at the process limit (100)'],
      ],
    );
    await controller.destroy('sbx-1');
    assert.ok(fs.writes.some(([f, v]) => f === `${dir}/cgroup.kill` && v === '1'));
  });

  test('a worker sharing its group with other processes leaves it be and falls back', async () => {
    const fs = fakeCgroupFs(base('4242\n999\n'));
    const { controller, passedOver } = await detectLimits({
      fs,
      procCgroup: '0::/user.slice/worker.scope\n',
      mountinfo: V2_MOUNTINFO,
      pid: 4242,
      canSetUid: false,
    });
    assert.equal(controller.mechanism, 'none');
    assert.match(passedOver[0] ?? '', /^cgroup2: the worker shares its cgroup/);
    assert.equal(fs.writes.length, 0, 'nothing written, nothing moved');
  });

  test('asking for a mechanism that cannot work is an error at start', async () => {
    const fs = fakeCgroupFs({});
    await assert.rejects(
      detectLimits({ fs, prefer: 'cgroup2', procCgroup: '0::/\n', mountinfo: V2_MOUNTINFO }),
      /sandbox limits "cgroup2" were asked for but cannot be used here/,
    );
  });
});

// The rest runs real jails under this host's mechanism.
let bwrap: string;
let tmp: string;
before(async () => {
  bwrap = await checkBubblewrap();
  tmp = await mkdtemp(path.join(os.tmpdir(), 'ccflow-limits-'));
});
after(async () => {
  await rm(tmp, { recursive: true, force: true });
});

/** Runs `script` with bash in a minimal jail (own pid and user namespaces) under `wrap`. */
async function jailed(
  wrap: (argv: string[]) => string[],
  script: string,
  binds: string[] = [],
): Promise<{ code: number | null; out: string }> {
  const argv = wrap([
    bwrap,
    '--as-pid-1',
    '--unshare-user',
    '--uid',
    '1000',
    '--gid',
    '1000',
    '--unshare-pid',
    '--unshare-net',
    '--disable-userns',
    ...(await systemArgs()),
    '--proc',
    '/proc',
    '--dev',
    '/dev',
    '--tmpfs',
    '/tmp',
    ...binds,
    '--',
    '/bin/bash',
    '-c',
    script,
  ]);
  const child = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const code = await new Promise<number | null>((r) => child.on('close', (c) => r(c)));
  return { code, out };
}

const FORK_BOMB = 'f(){ f | f & }; (f) 2>/dev/null & sleep 3; echo bomb-done';
const ALLOC_1G = 'python3 -c \'b = bytearray(1 << 30); print("allocated")\'';

describe('limits on this host', () => {
  let controller: LimitController;
  before(async () => {
    controller = (await detectLimits({})).controller;
  });
  after(async () => {
    await controller.dispose();
  });

  test('a fork bomb and a 1 GiB allocation are stopped, and reported as hits', async (t) => {
    if (controller.mechanism !== 'cgroup1' && controller.mechanism !== 'cgroup2') {
      t.skip(`no cgroups here (${controller.describe()})`);
      return;
    }
    await controller.create('sbx-bomb', { memoryBytes: 256 << 20, processes: 64, cpuWeight: 100 });
    try {
      const bomb = await jailed((a) => controller.wrap('sbx-bomb', a), FORK_BOMB);
      assert.match(bomb.out, /bomb-done|Resource temporarily unavailable/);
      const alloc = await jailed((a) => controller.wrap('sbx-bomb', a), ALLOC_1G);
      assert.doesNotMatch(alloc.out, /allocated/);
      const hits = await controller.hits('sbx-bomb');
      assert.deepEqual(hits.map((h) => h.limit).sort(), ['memory', 'processes']);
    } finally {
      await controller.destroy('sbx-bomb');
    }
  });
});

describe('rlimits under a uid of its own', () => {
  test('processes and memory per process are bounded', async (t) => {
    if (process.getuid?.() !== 0) {
      t.skip('needs root to switch uids');
      return;
    }
    const limits = new RlimitLimits();
    await limits.create('sbx-r', { memoryBytes: 256 << 20, processes: 40, cpuWeight: 100 }, { uid: 61_234 });
    const bomb = await jailed((a) => limits.wrap('sbx-r', a), `${FORK_BOMB}; id -u`);
    assert.match(bomb.out, /1000/, 'inside, the agent is still uid 1000');
    const alloc = await jailed((a) => limits.wrap('sbx-r', a), ALLOC_1G);
    assert.match(alloc.out, /MemoryError/);
    await limits.destroy('sbx-r');
  });
});

describe('disk limits', () => {
  test('loop-ext4: writing past the limit fails with ENOSPC, and the full disk is a hit', async (t) => {
    const why = await LoopExt4Disk.probe();
    if (why !== undefined) {
      t.skip(`loop mounts are not available here: ${why}`);
      return;
    }
    const dir = path.join(tmp, 'sbx-disk');
    await mkdir(dir);
    const disk = new LoopExt4Disk();
    await disk.create(dir, 32 << 20);
    try {
      await mkdir(path.join(dir, 'fs', 'home'));
      const r = await jailed((a) => a, 'dd if=/dev/zero of=/home/user/fill bs=1M count=64 2>&1; echo rc=$?', [
        '--bind',
        path.join(dir, 'fs', 'home'),
        '/home/user',
      ]);
      assert.match(r.out, /No space left on device/);
      assert.deepEqual(
        (await disk.hits(dir, 32 << 20)).map((h) => h.limit),
        ['disk'],
      );
    } finally {
      await disk.destroy(dir);
    }
    assert.equal((await import('node:fs')).existsSync(path.join(dir, 'disk.img')), false);
  });

  test('watchdog: a sandbox over its limit is a hit when sampled', async () => {
    const dir = path.join(tmp, 'sbx-watch');
    await mkdir(dir);
    const disk = new WatchdogDisk();
    await disk.create(dir);
    assert.deepEqual(await disk.hits(dir, 1 << 20), []);
    await writeFile(path.join(dir, 'fs', 'big'), Buffer.alloc(2 << 20, 1));
    assert.deepEqual(
      (await disk.hits(dir, 1 << 20)).map((h) => h.limit),
      ['disk'],
    );
  });
});
