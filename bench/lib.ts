import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import type { Subprocess } from "bun";

export const ROOT = resolve(import.meta.dir, "..");
const children: Subprocess[] = [];
const dirs: string[] = [];

export function freePort(): number {
  const listener = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const { port } = listener;
  listener.stop(true);
  return port;
}

async function waitFor(stream: ReadableStream<Uint8Array>, pattern: RegExp, what: string) {
  const reader = stream.getReader();
  let seen = "";
  const deadline = Date.now() + 15_000;
  while (!pattern.test(seen)) {
    if (Date.now() > deadline) throw new Error(`${what} did not start:\n${seen}`);
    const { value, done } = await reader.read();
    if (done) throw new Error(`${what} exited:\n${seen}`);
    seen += new TextDecoder().decode(value);
  }
  reader.releaseLock();
  (async () => {
    for await (const _ of stream) {
      // keep the pipe empty
    }
  })().catch(() => {});
}

/** A throwaway redis-server on a free loopback port with a password. */
export async function benchRedis(): Promise<{ url: string; port: number; pid: number }> {
  const port = freePort();
  const password = crypto.randomUUID().replaceAll("-", "");
  const dir = mkdtempSync(join(tmpdir(), "dropship-bench-"));
  dirs.push(dir);
  const child = Bun.spawn(
    [
      "redis-server",
      "--port",
      String(port),
      "--bind",
      "127.0.0.1",
      "--requirepass",
      password,
    ].concat(["--dir", dir, "--save", "", "--appendonly", "no"]),
    { stdout: "pipe", stderr: "inherit" },
  );
  children.push(child);
  await waitFor(child.stdout, /Ready to accept connections/, "redis-server");
  return { url: `redis://:${password}@127.0.0.1:${port}/0`, port, pid: child.pid };
}

/** One of our servers as its own process. */
export async function benchServer(name: string, env: Record<string, string>) {
  const port = freePort();
  const child = Bun.spawn([process.execPath, join(ROOT, `server/${name}/main.ts`)], {
    env: { PATH: process.env.PATH ?? "", HOST: "127.0.0.1", PORT: String(port), ...env },
    stdout: "pipe",
    stderr: "inherit",
  });
  children.push(child);
  await waitFor(child.stdout, /listening on/, name);
  return { url: `http://127.0.0.1:${port}`, pid: child.pid };
}

export function cleanup() {
  for (const child of children) child.kill("SIGKILL");
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
}

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const index = Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1);
  return sorted[Math.max(0, index)] as number;
}
