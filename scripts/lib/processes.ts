import { closeSync, openSync } from "node:fs";
import { isAlive } from "../../server/shared/proc.ts";

export { isAlive };

/** Starts a long-running process whose output goes to a log file; it outlives this one. */
export function startDaemon(argv: string[], env: Record<string, string>, logFile: string): number {
  const log = openSync(logFile, "a");
  const child = Bun.spawn(argv, {
    env: { ...process.env, ...env },
    stdin: "ignore",
    stdout: log,
    stderr: log,
  });
  closeSync(log);
  child.unref();
  return child.pid;
}

/** SIGTERM, then SIGKILL for whatever has not exited after `graceMs`. */
export async function stopAll(pids: number[], graceMs = 5000): Promise<void> {
  for (const pid of pids) signal(pid, "SIGTERM");
  const deadline = Date.now() + graceMs;
  while (pids.some(isAlive) && Date.now() < deadline) await Bun.sleep(50);
  for (const pid of pids.filter(isAlive)) signal(pid, "SIGKILL");
}

function signal(pid: number, name: NodeJS.Signals) {
  try {
    process.kill(pid, name);
  } catch {
    // already gone
  }
}

/** Polls a URL until it answers 2xx, or throws naming it after `ms`. */
export async function waitForHttp(
  url: string,
  ms: number,
  what: string,
  headers: Record<string, string> = {},
): Promise<void> {
  const deadline = Date.now() + ms;
  let last = "no answer";
  while (Date.now() < deadline) {
    try {
      const response = await fetch(url, { headers });
      if (response.ok) return;
      last = `HTTP ${response.status}`;
    } catch (error) {
      last = (error as Error).message;
    }
    await Bun.sleep(50);
  }
  throw new Error(`${what} did not answer at ${url} within ${ms} ms (${last}); see its log`);
}

export function freePort(): number {
  const listener = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const { port } = listener;
  listener.stop(true);
  return port;
}
