import { linkSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { isAlive } from "../server/shared/proc.ts";

/**
 * A lock file with no holder in it this old was left by an earlier dropship, which created the
 * file and then wrote it, and died in between.
 */
const STALE_UNREADABLE_MS = 10_000;

/** Locks this process has asked for, for a name of its own for each. */
let taken = 0;

/**
 * One deploy at a time per role, across processes (each push runs in its own hook process):
 * an exclusive lock file that names its holder, made whole by a hard link and released on exit.
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
  const file = join(dir, `${role}.lock`);
  const deadline = Date.now() + timeoutMs;
  let announced = false;
  // the lock appears with its holder's name in it (a hard link to a file written first), so
  // no process ever finds it empty, as it could between a create and a write
  const mine = `${file}.${process.pid}.${++taken}`;
  writeFileSync(mine, JSON.stringify({ pid: process.pid, holder }));
  for (;;) {
    try {
      linkSync(mine, file);
      rmSync(mine, { force: true });
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") {
        rmSync(mine, { force: true });
        throw error;
      }
      const current = readHolder(file);
      const age = ageOf(file);
      // released meanwhile: try again at once
      if (age === undefined) continue;
      if (current ? !isAlive(current.pid) : age > STALE_UNREADABLE_MS) {
        rmSync(file, { force: true });
        continue;
      }
      if (Date.now() > deadline) {
        rmSync(mine, { force: true });
        throw new Error(
          `gave up after ${Math.round(timeoutMs / 1000)} s waiting for the ${role} deploy of ${current?.holder ?? "another push"}`,
        );
      }
      if (!announced)
        say(`waiting: a ${role} deploy is running (${current?.holder ?? "another push"})`);
      announced = true;
      await Bun.sleep(250);
    }
  }
  const release = () => rmSync(file, { force: true });
  process.once("exit", release);
  try {
    return await work();
  } finally {
    release();
  }
}

function readHolder(file: string): { pid: number; holder: string } | undefined {
  try {
    return JSON.parse(readFileSync(file, "utf8"));
  } catch {
    return undefined;
  }
}

/** How long ago the file was written, undefined when it is not there. */
function ageOf(file: string): number | undefined {
  try {
    return Date.now() - statSync(file).mtimeMs;
  } catch {
    return undefined;
  }
}
