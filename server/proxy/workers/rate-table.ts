import { randomBytes } from "node:crypto";
import {
  accessSync,
  closeSync,
  constants,
  ftruncateSync,
  openSync,
  readdirSync,
  readlinkSync,
  rmSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { isAlive } from "../../shared/proc.ts";
import { rateTableBytes } from "../request-rate.ts";

/** Set by the supervisor on each worker: the file of the request-rate table they share (not a setting). */
export const RATE_TABLE_VARIABLE = "DROPSHIP_PROXY_RATE_TABLE";

/**
 * The files' names start with this, then the PID namespace's number: the emulator's droplets
 * share the machine's /dev/shm, each with PIDs of its own, and one must never take another's
 * supervisor's file for its own or for a dead one's.
 */
export function rateTablePrefix(): string {
  let namespace = "0";
  try {
    namespace = readlinkSync("/proc/self/ns/pid").replace(/\D/g, "");
  } catch {
    // no /proc: one namespace
  }
  return `dropship-proxy-rate-${namespace}-`;
}

/**
 * Where the table goes: shared memory (tmpfs at /dev/shm) where this user may write there, else
 * the temporary directory (a sandbox's /dev may have no /dev/shm of its own).
 */
export function rateTableDirectory(): string {
  try {
    accessSync("/dev/shm", constants.W_OK);
    return "/dev/shm";
  } catch {
    return tmpdir();
  }
}

/**
 * The supervisor's table for its workers' request buckets: a new file only this user may read
 * or write, sized for `tracked` addresses and mapped here too. Its name ends in random bytes and
 * it is created, never opened where one already is: another user of the host cannot have
 * put one there first. The files of supervisors no longer running are removed first, so a
 * killed one leaves at most one behind until the next start. `remove` once every worker has
 * exited.
 */
export function createRateTable(
  tracked: number,
  directory = rateTableDirectory(),
): {
  path: string;
  memory: Uint8Array;
  remove(): void;
} {
  const prefix = rateTablePrefix();
  for (const name of readdirSync(directory)) {
    if (!name.startsWith(prefix)) continue;
    const pid = Number(name.slice(prefix.length).split("-")[0]);
    if (!Number.isInteger(pid) || pid === process.pid || isAlive(pid)) continue;
    try {
      rmSync(join(directory, name), { force: true });
    } catch {
      // another user's (the directory is shared): theirs to remove
    }
  }
  const path = join(directory, `${prefix}${process.pid}-${randomBytes(8).toString("hex")}`);
  const fd = openSync(path, "wx", 0o600);
  try {
    ftruncateSync(fd, rateTableBytes(tracked));
  } finally {
    closeSync(fd);
  }
  return {
    path,
    memory: openRateTable(path, tracked),
    remove: () => rmSync(path, { force: true }),
  };
}

/** A worker's view of its supervisor's table: the same memory, every write seen by all at once. */
export function openRateTable(path: string, tracked: number): Uint8Array {
  const memory = Bun.mmap(path, { shared: true });
  if (memory.byteLength !== rateTableBytes(tracked))
    throw new Error(
      `${path} is ${memory.byteLength} bytes, not the ${rateTableBytes(tracked)} of a request-rate table for ${tracked} addresses`,
    );
  return memory;
}
