// Per-process CPU and memory from /proc (proc(5)): how the benchmark charges CPU to a proxy.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

/** Clock ticks per second for /proc/<pid>/stat times (almost always 100: 10 ms resolution). */
export const CLK_TCK: number = (() => {
  try {
    const n = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());
    return Number.isInteger(n) && n > 0 ? n : 100;
  } catch {
    return 100;
  }
})();

/**
 * utime + stime of a process, in clock ticks. Fields 14 and 15 of /proc/<pid>/stat; the command
 * name (field 2) may hold spaces and parentheses, so count from the last ')'.
 */
export function parseCpuTicks(stat: string): number {
  const { utime, stime } = parseCpuTickSplit(stat);
  return utime + stime;
}

/** utime and stime apart, in clock ticks: user space (JavaScript, V8, libuv) vs the kernel (the socket calls). */
export function parseCpuTickSplit(stat: string): { utime: number; stime: number } {
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // rest[0] is field 3 (state): utime is field 14 → rest[11], stime field 15 → rest[12].
  const utime = Number(rest[11]);
  const stime = Number(rest[12]);
  if (!Number.isFinite(utime) || !Number.isFinite(stime))
    throw new Error(`cannot read CPU times from "${stat.slice(0, 80)}"`);
  return { utime, stime };
}

export function cpuSeconds(pid: number): number {
  return parseCpuTicks(readFileSync(`/proc/${pid}/stat`, 'utf8')) / CLK_TCK;
}

/** User-space CPU seconds of a process (utime alone). */
export function userCpuSeconds(pid: number): number {
  return parseCpuTickSplit(readFileSync(`/proc/${pid}/stat`, 'utf8')).utime / CLK_TCK;
}

/** Resident set size in bytes (VmRSS of /proc/<pid>/status). */
export function rssBytes(pid: number): number {
  const m = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (m === null) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(m[1]) * 1024;
}

/** Peak resident set size in bytes since the process started (VmHWM of /proc/<pid>/status). */
export function peakRssBytes(pid: number): number {
  const m = /^VmHWM:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (m === null) throw new Error(`no VmHWM for pid ${pid}`);
  return Number(m[1]) * 1024;
}

/** Direct children of a process (needs CONFIG_PROC_CHILDREN, on in Debian kernels). */
export function childPids(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8')
      .trim()
      .split(/\s+/)
      .filter((s) => s !== '')
      .map(Number);
  } catch {
    return [];
  }
}

/** The process's executable name (comm), or null if it is gone. */
export function commOf(pid: number): string | null {
  try {
    return readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  } catch {
    return null;
  }
}
