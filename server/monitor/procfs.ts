/** CPU time counters from the first line of /proc/stat, in ticks. */
export interface CpuTimes {
  busy: number;
  total: number;
}

/**
 * Reads the aggregate `cpu` line. Busy is everything but idle and iowait — steal included,
 * since time the hypervisor took is time the host could not use. guest/guest_nice are already
 * counted in user/nice, so they are left out of the total.
 */
export function parseCpu(procStat: string): CpuTimes {
  const line = procStat.split("\n").find((l) => l.startsWith("cpu "));
  if (!line) throw new Error("/proc/stat has no aggregate cpu line");
  const [user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0] =
    line.trim().split(/\s+/).slice(1).map(Number);
  const total = user + nice + system + idle + iowait + irq + softirq + steal;
  return { busy: total - idle - iowait, total };
}

/** Percent busy between two readings; 0 when no time passed. */
export function cpuPercent(before: CpuTimes, after: CpuTimes): number {
  const total = after.total - before.total;
  if (total <= 0) return 0;
  return Math.min(100, Math.max(0, (100 * (after.busy - before.busy)) / total));
}

/** A filesystem's blocks, as statfs counts them. */
export interface FsBlocks {
  blocks: number;
  bfree: number;
  bavail: number;
}

/**
 * Percent of a filesystem in use as `df` shows it: used over what users can have (the blocks
 * reserved for root count as neither), so 100% is when an unprivileged write fails.
 */
export function diskPercent(fs: FsBlocks): number {
  const used = fs.blocks - fs.bfree;
  const usable = used + fs.bavail;
  return usable > 0 ? (100 * used) / usable : 0;
}

/** Percent of memory in use: what MemAvailable says cannot be had without swapping. */
export function parseMemoryPercent(meminfo: string): number {
  const field = (name: string) => {
    const match = new RegExp(`^${name}:\\s+(\\d+) kB`, "m").exec(meminfo);
    if (!match) throw new Error(`/proc/meminfo has no ${name}`);
    return Number(match[1]);
  };
  const total = field("MemTotal");
  return total > 0 ? (100 * (total - field("MemAvailable"))) / total : 0;
}
