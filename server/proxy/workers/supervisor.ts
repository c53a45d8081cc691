import type { Subprocess } from "bun";
import type { WorkerMessage } from "./figures.ts";

export interface SupervisorOptions {
  count: number;
  /** the proxy's own command line, started again as each worker */
  argv: string[];
  env: Record<string, string | undefined>;
  onMessage: (worker: number, message: WorkerMessage) => void;
  onExit: (worker: number) => void;
  say: (line: string) => void;
}

const STOP_GRACE_MS = 30_000;

/**
 * Runs `count` proxy workers on the same ports (reusePort), restarts one that dies (after 1 s,
 * doubling up to 30 s while it keeps dying within 10 s of its start), and on stop sends every
 * worker SIGTERM and waits for all of them to drain.
 */
export function superviseWorkers(options: SupervisorOptions) {
  const children = new Map<number, Subprocess>();
  const delays = new Map<number, number>();
  let stopping = false;
  let readyCount = 0;
  let allReady: () => void = () => {};
  const ready = new Promise<void>((resolve) => {
    allReady = resolve;
  });
  const seenReady = new Set<number>();

  const spawn = (worker: number) => {
    const started = Date.now();
    const child = Bun.spawn(options.argv, {
      env: { ...options.env, DROPSHIP_PROXY_WORKER: String(worker) },
      stdio: ["ignore", "inherit", "inherit"],
      ipc(message) {
        const m = message as WorkerMessage;
        if (m.kind === "ready" && !seenReady.has(worker)) {
          seenReady.add(worker);
          if (++readyCount === options.count) allReady();
        }
        options.onMessage(worker, m);
      },
      onExit(_child, code, signal) {
        children.delete(worker);
        options.onExit(worker);
        if (stopping) return;
        const lived = Date.now() - started;
        const delay = lived < 10_000 ? Math.min(30_000, (delays.get(worker) ?? 500) * 2) : 1000;
        delays.set(worker, delay);
        options.say(
          `worker ${worker} (pid ${child.pid}) exited (${signal ?? `code ${code}`}); starting it again in ${delay / 1000} s`,
        );
        setTimeout(() => {
          if (!stopping) spawn(worker);
        }, delay).unref();
      },
    });
    children.set(worker, child);
  };
  for (let worker = 1; worker <= options.count; worker++) spawn(worker);

  return {
    ready,
    pids: () => [...children.values()].map((c) => c.pid),
    async stop(): Promise<void> {
      stopping = true;
      const all = [...children.values()];
      for (const child of all) child.kill("SIGTERM");
      const timer = setTimeout(() => {
        for (const child of all) child.kill("SIGKILL");
      }, STOP_GRACE_MS);
      await Promise.all(all.map((child) => child.exited));
      clearTimeout(timer);
    },
  };
}
