import { join, resolve } from "node:path";
import { EMULATOR_NETWORK_VARIABLE } from "../../server/emulator/network.ts";
import { EMULATOR } from "../../server/emulator/this-network.ts";
import { BUILD_CACHE_ENV } from "./build-cache.ts";

/** What the demo tests share: running the project's scripts, reading the demo's files, waiting. */
const ROOT = resolve(import.meta.dir, "../..");

/**
 * The little a demo's scripts get from the test's environment, as from a person's shell: PATH
 * and HOME, the run's build cache, and the emulator network of the test's lane.
 */
export const DEMO_ENV: Record<string, string> = {
  PATH: process.env.PATH ?? "",
  HOME: process.env.HOME ?? "/root",
  ...BUILD_CACHE_ENV,
  [EMULATOR_NETWORK_VARIABLE]: String(EMULATOR.network),
};

/** Runs one of the project's scripts with `env` added to DEMO_ENV. */
export function runScript(script: string, args: string[], env: Record<string, string>) {
  const proc = Bun.spawnSync([process.execPath, join(ROOT, script), ...args], {
    cwd: ROOT,
    env: { ...DEMO_ENV, ...env },
    stdout: "pipe",
    stderr: "pipe",
  });
  return { code: proc.exitCode, out: proc.stdout.toString(), err: proc.stderr.toString() };
}

/** The demo's `.env` file (NAME=value, a value maybe in single quotes), as an object. */
export function parseEnv(text: string): Record<string, string> {
  return Object.fromEntries(
    text
      .trim()
      .split("\n")
      .map((line) => [
        line.slice(0, line.indexOf("=")),
        line.slice(line.indexOf("=") + 1).replace(/^'(.*)'$/, "$1"),
      ]),
  );
}

const listNamespaces = (prefix: string) =>
  Bun.spawnSync(["ip", "netns", "list"])
    .stdout.toString()
    .split("\n")
    .filter((line) => line.startsWith(prefix));
/** The droplets' namespaces on this test's emulator network. */
export const namespaces = () => listNamespaces(EMULATOR.hostNamespacePrefix);
/** The load balancers' namespaces on this test's emulator network. */
export const balancerNamespaces = () => listNamespaces(EMULATOR.balancerNamespacePrefix);

/**
 * Polls until `found` answers something, at most `timeoutMs`; on timeout the error adds what
 * `why` says (the lines of a log that tell what happened instead).
 */
export async function within<T>(
  timeoutMs: number,
  what: string,
  found: () => T | undefined | Promise<T | undefined>,
  why: () => string = () => "",
): Promise<T> {
  const value = await pollFor(timeoutMs, found);
  if (value !== undefined) return value;
  const context = why();
  throw new Error(`no ${what} within ${timeoutMs / 1000} s${context ? `:\n${context}` : ""}`);
}

/** Says how far into a test each step came, so a slow or failed run's log shows where time went. */
export function stepClock(test: string): (what: string) => void {
  const started = performance.now();
  return (what) =>
    console.log(`${test} test: ${what} at ${((performance.now() - started) / 1000).toFixed(0)} s`);
}

/**
 * What `read` answers once it is `wanted`, or its last answer after `timeoutMs`: a change that
 * spreads (a flag, the routing table) is awaited, not slept on, and a failure shows what was
 * seen instead.
 */
export async function settled<T>(timeoutMs: number, read: () => Promise<T>, wanted: T): Promise<T> {
  let last = undefined as T; // pollFor reads at once
  await pollFor(timeoutMs, async () => {
    last = await read();
    return last === wanted || undefined;
  });
  return last;
}

/** Polls until `found` answers something, at most `timeoutMs`; undefined if it never does. */
export async function pollFor<T>(
  timeoutMs: number,
  found: () => T | undefined | Promise<T | undefined>,
): Promise<T | undefined> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await found();
    if (value !== undefined || Date.now() > deadline) return value;
    await Bun.sleep(500);
  }
}
