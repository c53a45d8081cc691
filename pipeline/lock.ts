import { closeSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { isAlive } from "../server/shared/proc.ts";

/**
 * One deploy at a time per role, across processes (each push runs in its own hook process):
 * an exclusive lock file that names its holder, taken with O_EXCL and released on exit.
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
  for (;;) {
    try {
      closeSync(openSync(file, "wx"));
      writeFileSync(file, JSON.stringify({ pid: process.pid, holder }));
      break;
    } catch {
      const current = readHolder(file);
      if (current && !isAlive(current.pid)) {
        rmSync(file, { force: true });
        continue;
      }
      if (Date.now() > deadline) {
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
