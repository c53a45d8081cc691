import { afterAll, expect } from "bun:test";
import { resolve } from "node:path";
import { bundleEntry, TEST_BUNDLES_VARIABLE } from "../../scripts/lib/test-bundles.ts";
import { freePort } from "./ports.ts";
import { track, waitForLine } from "./processes.ts";

const ROOT = resolve(import.meta.dir, "../..");

export interface RunningServer {
  readonly url: string;
  readonly port: number;
  readonly pid: number;
  /** SIGTERM, then wait for the exit code */
  stop(): Promise<number>;
  /** what it has written to stderr so far (echoed to the test's stderr as it comes) */
  stderr(): string;
  /** what it printed up to its "listening" line */
  readonly started: string;
  /** what it has printed since */
  stdout(): string;
}

/** The file a server runs from: the run's bundle of it when there is one, else its source. */
export function serverEntry(name: string): string {
  const bundles = process.env[TEST_BUNDLES_VARIABLE];
  return bundles ? bundleEntry(bundles, name) : resolve(ROOT, `server/${name}/main.ts`);
}

/**
 * Runs one of our servers (`server/<name>/main.ts`) as its own process on a free loopback
 * port, and waits for its "listening" line. Stopped after the file's tests.
 */
export async function startServer(
  name: string,
  env: Record<string, string>,
  options: StartOptions = {},
): Promise<RunningServer> {
  // freePort's port is free when asked, not when the child binds it: with four lanes running
  // at once, another test's connection can take it in between (a CI run lost a receiver so).
  // A child that says its port is held is started again on another; any other failure is kept.
  for (let attempt = 1; ; attempt++) {
    try {
      return await startOnce(name, env, options);
    } catch (error) {
      if (!(error instanceof PortTaken) || attempt === 3) throw error;
    }
  }
}

interface StartOptions {
  ready?: RegExp;
  timeoutMs?: number;
  args?: (port: number) => string[];
  /** a command that runs the server, as `prlimit --nofile=300:300 --` does */
  wrap?: string[];
}

class PortTaken extends Error {}

/** what our servers, and Bun under them, say when their port is held */
const PORT_HELD = /cannot listen on|Failed to listen|Failed to start server|EADDRINUSE/;

async function startOnce(
  name: string,
  env: Record<string, string>,
  options: StartOptions,
): Promise<RunningServer> {
  const port = freePort();
  const child = track(
    Bun.spawn(
      [
        ...(options.wrap ?? []),
        process.execPath,
        serverEntry(name),
        ...(options.args?.(port) ?? []),
      ],
      {
        cwd: ROOT,
        env: { PATH: process.env.PATH ?? "", HOST: "127.0.0.1", PORT: String(port), ...env },
        stdout: "pipe",
        stderr: "pipe",
      },
    ),
  );
  let stderr = "";
  const stderrRead = (async () => {
    const decoder = new TextDecoder();
    for await (const chunk of child.stderr as ReadableStream<Uint8Array>) {
      const text = decoder.decode(chunk, { stream: true });
      stderr += text;
      process.stderr.write(text);
    }
  })();
  // a server that never says it is ready is stopped here: the file's hooks may never run
  // (a top-level await that throws ends the file), and bun test emits no exit event to kill it
  let stdout = "";
  const started = await waitForLine(
    child.stdout,
    options.ready ?? /listening on/,
    options.timeoutMs ?? 10_000,
    name,
    (text) => {
      stdout += text;
    },
  ).catch(async (error) => {
    child.kill("SIGKILL");
    await child.exited;
    await stderrRead;
    throw PORT_HELD.test(stderr) ? new PortTaken(`${name}: port ${port} was taken`) : error;
  });
  const stop = async () => {
    child.kill("SIGTERM");
    return child.exited;
  };
  // a server may take a while to stop on a busy machine (the emulator deletes its droplets):
  // more than the 5 s a hook gets by default
  afterAll(async () => {
    if (child.exitCode === null) await stop();
  }, 60_000);
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    pid: child.pid,
    stop,
    stderr: () => stderr,
    started,
    stdout: () => stdout,
  };
}

/** Polls until `check` passes or `ms` runs out; returns how long it took. */
export async function eventually(check: () => Promise<boolean>, ms = 5000, what = "condition") {
  const start = performance.now();
  while (performance.now() - start < ms) {
    if (await check().catch(() => false)) return performance.now() - start;
    await Bun.sleep(5);
  }
  throw new Error(`${what} did not hold within ${ms} ms`);
}

/**
 * Asserts that a server's output holds `expected`, waiting up to `ms` for it: the output comes
 * through a pipe, read apart from the answers a test has seen, and may be behind them on a
 * loaded machine.
 */
export async function expectLogged(read: () => string, expected: string | RegExp, ms = 5000) {
  const holds = () =>
    typeof expected === "string" ? read().includes(expected) : expected.test(read());
  await eventually(async () => holds(), ms).catch(() => undefined);
  if (typeof expected === "string") expect(read()).toContain(expected);
  else expect(read()).toMatch(expected);
}
