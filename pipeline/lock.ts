import {
  closeSync,
  constants,
  ftruncateSync,
  mkdirSync,
  openSync,
  readFileSync,
  writeSync,
} from "node:fs";
import { join } from "node:path";
import { tryLockExclusive, tryLockShared, unlock } from "../server/shared/file-lock.ts";

/**
 * One deploy at a time per role, across processes (each push runs in its own hook process):
 * flock(2) on `<role>.lock`, which names its holder while it is held. The kernel lets go of
 * the lock when its holder ends, however it ends, so there is no dead holder to find and take
 * over (when a file's existence was the lock, two waiters could both take over a dead
 * holder's). The file stays: removing it would let a waiter lock a file no longer there.
 */
export async function withRoleLock<T>(
  dir: string,
  role: string,
  holder: string,
  timeoutMs: number,
  say: (line: string) => void,
  work: () => Promise<T>,
): Promise<T> {
  mkdirSync(dir, { recursive: true });
  const file = lockFile(dir, role);
  // an open file description of its own per request: one process asking twice takes turns
  const fd = openSync(file, constants.O_RDWR | constants.O_CREAT, 0o600);
  try {
    const deadline = Date.now() + timeoutMs;
    let announced = false;
    while (!tryLockExclusive(fd, file)) {
      const current = readHolder(file);
      if (Date.now() > deadline)
        throw new Error(
          `gave up after ${Math.round(timeoutMs / 1000)} s waiting for the ${role} deploy of ${current ?? "another push"}`,
        );
      if (!announced) say(`waiting: a ${role} deploy is running (${current ?? "another push"})`);
      announced = true;
      await Bun.sleep(250);
    }
    ftruncateSync(fd, 0);
    writeSync(fd, JSON.stringify({ pid: process.pid, holder }), 0);
    try {
      return await work();
    } finally {
      ftruncateSync(fd, 0);
    }
  } finally {
    closeSync(fd); // and with it the lock
  }
}

/** Whether a deploy of the role holds its lock now. */
export function roleLockHeld(dir: string, role: string): boolean {
  const file = lockFile(dir, role);
  let fd: number;
  try {
    fd = openSync(file, constants.O_RDONLY);
  } catch {
    return false; // never taken
  }
  try {
    const free = tryLockShared(fd, file);
    if (free) unlock(fd, file);
    return !free;
  } finally {
    closeSync(fd);
  }
}

const lockFile = (dir: string, role: string) => join(dir, `${role}.lock`);

/** Who holds the lock, as they wrote it; undefined between their lock and their write. */
function readHolder(file: string): string | undefined {
  try {
    return (JSON.parse(readFileSync(file, "utf8")) as { holder: string }).holder;
  } catch {
    return undefined;
  }
}
