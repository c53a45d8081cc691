import { EnvError, helpText, type Variable } from "./env.ts";
import { redact } from "./secrets.ts";
import { VERSION } from "./version.ts";

/**
 * The door of every server binary: `--version` and `--help` answer and exit; a bad setting
 * exits 2 with one line naming each variable at fault; anything else thrown at start-up exits 1.
 */
export async function serverMain(
  name: string,
  title: string,
  spec: Record<string, Variable<unknown>>,
  start: () => Promise<void>,
): Promise<void> {
  const args = process.argv.slice(2);
  if (args.includes("--version")) {
    console.log(`${name} ${VERSION}`);
    return;
  }
  if (args.includes("--help") || args.includes("-h")) {
    console.log(helpText(name, `${name} ${VERSION}: ${title}.`, spec));
    return;
  }
  if (process.env.DROPSHIP_LOG_TIME === "1") stampLines();
  try {
    await start();
  } catch (error) {
    const message = redact((error as Error).message);
    console.error(`${name}: ${error instanceof EnvError ? "bad settings: " : ""}${message}`);
    process.exit(error instanceof EnvError ? 2 : 1);
  }
}

/** Runs `stop` once on SIGTERM or SIGINT, then exits. */
export function onShutdown(stop: () => Promise<void>): void {
  let stopping = false;
  const handler = async () => {
    if (stopping) return;
    stopping = true;
    await stop();
    process.exit(0);
  };
  process.on("SIGTERM", handler);
  process.on("SIGINT", handler);
}

/**
 * Starts every line a server logs with its time (ISO 8601, UTC): on a host without systemd the
 * log is a plain file, and `bun run logs --since` and the merge by time read these.
 */
function stampLines(): void {
  for (const method of ["log", "error", "warn", "info"] as const) {
    const write = console[method].bind(console);
    console[method] = (...args: unknown[]) => write(new Date().toISOString(), ...args);
  }
}
