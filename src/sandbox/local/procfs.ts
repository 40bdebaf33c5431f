/** Just enough /proc reading to tell whether a recorded process (group) is still ours. */
import { readdir, readFile } from 'node:fs/promises';

export interface ProcStat {
  /** One-letter state; 'Z' is a zombie (exited, not yet reaped). */
  state: string;
  ppid: number;
  pgrp: number;
  /** Clock ticks since boot; with the pid it identifies a process across pid reuse. */
  startTime: number;
}

/** Parses /proc/<pid>/stat, or undefined when the process does not exist. */
export async function readProcStat(pid: number): Promise<ProcStat | undefined> {
  let text: string;
  try {
    text = await readFile(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // comm (field 2) may contain spaces and parens: the fields we want follow the last ')'.
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  const [state, ppid, pgrp] = fields;
  const startTime = fields[19];
  if (state === undefined || ppid === undefined || pgrp === undefined || startTime === undefined) {
    return undefined;
  }
  return { state, ppid: Number(ppid), pgrp: Number(pgrp), startTime: Number(startTime) };
}

/** Whether `pid` is a live (not zombie) process that started at `startTime`. */
export async function isAlive(pid: number, startTime: number | null): Promise<boolean> {
  if (startTime === null) return false;
  const st = await readProcStat(pid);
  return st !== undefined && st.state !== 'Z' && st.startTime === startTime;
}

/** Host pids of the live (not zombie) members of process group `pgid`. */
export async function groupMembers(pgid: number): Promise<number[]> {
  const entries = await readdir('/proc').catch(() => []);
  const members: number[] = [];
  for (const name of entries) {
    if (!/^\d+$/.test(name)) continue;
    const st = await readProcStat(Number(name));
    if (st !== undefined && st.pgrp === pgid && st.state !== 'Z') members.push(Number(name));
  }
  return members;
}

/**
 * Whether process group `pgid` (led by a process that started at `startTime`) may still have
 * members. A pgid is never handed out while a process still uses it, so if the leader is gone
 * but members remain they are ours; if a process with the leader's pid exists but started at
 * another time, the number was reused and the group is not ours.
 */
export async function ownsGroup(pgid: number, startTime: number | null): Promise<boolean> {
  const leader = await readProcStat(pgid);
  if (leader !== undefined) return startTime !== null && leader.startTime === startTime;
  return (await groupMembers(pgid)).length > 0;
}
