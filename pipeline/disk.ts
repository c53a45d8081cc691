import { lstatSync, opendirSync, statfsSync } from "node:fs";
import { join } from "node:path";

/** What a workspace holds: bytes on disk and files (inodes: directories and links count). */
export interface DiskUse {
  bytes: number;
  files: number;
}

/** The most a gate's workspace may hold; no file bound where the filesystem counts none. */
export interface DiskLimits {
  bytes: number;
  files?: number;
}

/** A filesystem's free space and inodes, as statfs reports them to an unprivileged user. */
export interface FreeSpace {
  bavail: number;
  bsize: number;
  ffree: number;
  files: number;
}

const MIB = 1024 * 1024;

/** Below this, `auto` refuses the push rather than run it on a disk nearly full. */
export const LEAST_AUTO_MIB = 256;

/**
 * The limits a config asks for: `step_disk` in MiB, or `auto`, half the space free where the
 * workspace is when the push begins; files, half the free inodes. Undefined when `auto` leaves
 * less than LEAST_AUTO_MIB: the disk is too full to run a push on.
 */
export function diskLimits(stepDisk: "auto" | number, free: FreeSpace): DiskLimits | undefined {
  const freeBytes = free.bavail * free.bsize;
  const bytes = stepDisk === "auto" ? Math.floor(freeBytes / 2 / MIB) * MIB : stepDisk * MIB;
  if (stepDisk === "auto" && bytes < LEAST_AUTO_MIB * MIB) return undefined;
  return free.files > 0 ? { bytes, files: Math.floor(free.ffree / 2) } : { bytes };
}

/** Which bound a use is past, if any. */
export function pastLimit(use: DiskUse, limits: DiskLimits): "bytes" | "files" | undefined {
  if (use.bytes > limits.bytes) return "bytes";
  if (limits.files !== undefined && use.files > limits.files) return "files";
  return undefined;
}

/**
 * What the workspace may hold now, from how much the filesystem under it has filled since it
 * held `base`: at most that much more (others writing beside it only make this larger), so
 * the costly count of the workspace itself is needed only once this is past a limit.
 */
export function mostHeld(base: DiskUse, then: FreeSpace, now: FreeSpace): DiskUse {
  return {
    bytes: base.bytes + Math.max(0, (then.bavail - now.bavail) * now.bsize),
    files: base.files + Math.max(0, then.ffree - now.ffree),
  };
}

/**
 * Counts what a folder holds, every file once however many links it has; stops counting once
 * past `limits` (the answer is then past them too). Yields to the event loop as it goes, so
 * the step's output keeps flowing while a large tree is counted.
 */
export async function heldIn(dir: string, limits: DiskLimits): Promise<DiskUse> {
  const use: DiskUse = { bytes: 0, files: 0 };
  const linked = new Set<string>();
  const pending = [dir];
  let counted = 0;
  while (pending.length > 0 && pastLimit(use, limits) === undefined) {
    const folder = pending.pop() as string;
    let entries: ReturnType<typeof opendirSync>;
    try {
      entries = opendirSync(folder);
    } catch {
      continue; // removed meanwhile, or not ours to read: the filesystem's count still bounds it
    }
    try {
      for (let entry = entries.readSync(); entry; entry = entries.readSync()) {
        const path = join(folder, entry.name);
        try {
          const stat = lstatSync(path);
          if (stat.nlink > 1 && !stat.isDirectory()) {
            const key = `${stat.dev}:${stat.ino}`;
            if (linked.has(key)) continue;
            linked.add(key);
          }
          use.bytes += stat.blocks * 512;
          use.files += 1;
          if (stat.isDirectory()) pending.push(path);
        } catch {
          // gone since it was listed
        }
        if (++counted % 2000 === 0) {
          await Bun.sleep(0);
          if (pastLimit(use, limits) !== undefined) break;
        }
      }
    } finally {
      entries.closeSync();
    }
  }
  return use;
}

export const freeSpace = (dir: string): FreeSpace => statfsSync(dir);

/** How often the filesystem under a running step is looked at (one statfs call). */
export const DISK_CHECK_MS = 500;

/**
 * Watches a step's workspace while it runs: calls `past` once when it holds more than
 * `limits`. Cheap while the filesystem has not grown by the limit; counts the workspace only
 * then. Answers the function that stops watching.
 */
export async function watchDisk(
  workspace: string,
  limits: DiskLimits,
  past: (which: "bytes" | "files") => void,
): Promise<() => void> {
  let base = await heldIn(workspace, limits);
  let then = freeSpace(workspace);
  let stopped = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const look = async () => {
    if (stopped) return;
    const now = freeSpace(workspace);
    if (pastLimit(mostHeld(base, then, now), limits) !== undefined) {
      const held = await heldIn(workspace, limits);
      const which = pastLimit(held, limits);
      if (which && !stopped) {
        stopped = true;
        past(which);
        return;
      }
      // others wrote beside it: measure from here
      [base, then] = [held, now];
    }
    if (!stopped) timer = setTimeout(watch, DISK_CHECK_MS);
  };
  // a workspace removed under a step (its push given up) has nothing left to watch
  const watch = () => void look().catch(() => undefined);
  const which = pastLimit(base, limits);
  if (which) {
    stopped = true;
    past(which);
  } else timer = setTimeout(watch, DISK_CHECK_MS);
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}
