/** The machine and the versions a benchmark ran on. */
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { claudeBinaryPath } from '../../src/worker/index.js';
import { temporalBinary } from '../../src/testing/dev-server.js';
import { REPO_ROOT } from './paths.js';

const execFileAsync = promisify(execFile);

export interface MachineInfo {
  cpus: number;
  cpuModel: string;
  memoryBytes: number;
  os: string;
  kernel: string;
}

export interface Versions {
  node: string;
  claude: string;
  temporalCli: string;
  temporalSdk: string;
  bubblewrap: string;
  ccflow: string;
}

async function firstLine(cmd: string, args: string[]): Promise<string> {
  try {
    const { stdout, stderr } = await execFileAsync(cmd, args, { timeout: 20_000 });
    return (stdout || stderr).trim().split('\n')[0] ?? '?';
  } catch (err) {
    return `unavailable (${(err as Error).message.split('\n')[0]})`;
  }
}

async function packageVersion(dir: string): Promise<string> {
  try {
    return (JSON.parse(await readFile(path.join(dir, 'package.json'), 'utf8')) as { version: string }).version;
  } catch {
    return '?';
  }
}

export async function machineInfo(): Promise<MachineInfo> {
  const release = await readFile('/etc/os-release', 'utf8').catch(() => '');
  const pretty = /^PRETTY_NAME="?([^"\n]*)"?/m.exec(release)?.[1];
  return {
    cpus: os.cpus().length,
    cpuModel: os.cpus()[0]?.model ?? '?',
    memoryBytes: os.totalmem(),
    os: pretty ?? `${os.type()} ${os.release()}`,
    kernel: `${os.type()} ${os.release()} ${os.arch()}`,
  };
}

export async function versions(): Promise<Versions> {
  return {
    node: process.version,
    claude: await firstLine(claudeBinaryPath(), ['--version']),
    temporalCli: await firstLine(temporalBinary(), ['--version']),
    temporalSdk: await packageVersion(path.join(REPO_ROOT, 'node_modules', '@temporalio', 'worker')),
    bubblewrap: await firstLine('bwrap', ['--version']),
    ccflow: await packageVersion(REPO_ROOT),
  };
}
