import { expect, test } from "bun:test";
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { AccessEntry } from "../../../server/proxy/access-line.ts";
import {
  AccessLog,
  rotateIfLarge,
  rotationSteps,
  startRotation,
} from "../../../server/proxy/access-log.ts";
import { eventually } from "../../helpers/server.ts";
import { fileTempDir } from "../../helpers/tmp.ts";

const entry = (n: number): AccessEntry => ({
  at: Date.UTC(2026, 11, 5, 20, 0, 0, n),
  status: 200,
  method: "GET",
  target: `/item/${n}`,
  host: "shop.example",
  ms: 1,
  bytes: 120,
  track: "production",
  backend: "10.0.0.5:3000",
  visitor: "203.0.113.9",
  requestId: `id-${n}`,
  userAgent: null,
});
const lines = (path: string) => readFileSync(path, "utf8").split("\n").filter(Boolean);

test("lines are held until 64 KB or the timer, then appended in one write", async () => {
  const path = join(fileTempDir("access-"), "access.log");
  const said: string[] = [];
  const log = new AccessLog(path, { flushMs: 60_000, flushBytes: 1000, say: (l) => said.push(l) });
  log.add(entry(1));
  expect(readFileSync(path, "utf8")).toBe("");
  for (let n = 2; n <= 20; n++) log.add(entry(n));
  // past 1000 bytes: written without waiting for the timer
  expect(lines(path).length).toBeGreaterThan(0);
  log.close();
  expect(lines(path).map((l) => /request_id=(\S+)/.exec(l)?.[1])).toEqual(
    Array.from({ length: 20 }, (_, i) => `id-${i + 1}`),
  );
  expect(said).toEqual([]);

  const timed = new AccessLog(path, { flushMs: 20, say: (l) => said.push(l) });
  timed.add(entry(21));
  await Bun.sleep(100);
  expect(lines(path).at(-1)).toContain("request_id=id-21");
  timed.close();
});

test("rotation renames oldest first and keeps `keep` files; a writer then opens a new file", () => {
  expect(rotationSteps("/l/access.log", 3)).toEqual([
    ["/l/access.log.2", "/l/access.log.3"],
    ["/l/access.log.1", "/l/access.log.2"],
    ["/l/access.log", "/l/access.log.1"],
  ]);
  const dir = fileTempDir("access-");
  const path = join(dir, "access.log");
  const log = new AccessLog(path, { flushMs: 60_000, flushBytes: 1, say: () => {} });
  expect(rotateIfLarge(path, 1, 2)).toBe(false); // empty: under any size
  for (let round = 1; round <= 4; round++) {
    log.add(entry(round));
    expect(rotateIfLarge(path, 10_000, 2)).toBe(false);
    expect(rotateIfLarge(path, 100, 2)).toBe(true);
    expect(existsSync(path)).toBe(false);
  }
  // rounds 3 and 4 kept, 1 and 2 dropped, each line in the file it was written to
  expect(lines(`${path}.1`)).toEqual([expect.stringContaining("request_id=id-4 ")]);
  expect(lines(`${path}.2`)).toEqual([expect.stringContaining("request_id=id-3 ")]);
  expect(existsSync(`${path}.3`)).toBe(false);
  log.add(entry(5));
  expect(lines(path)).toEqual([expect.stringContaining("request_id=id-5 ")]);
  log.close();
});

test("two processes' writers append to one file: every line whole, none lost", async () => {
  const path = join(fileTempDir("access-"), "access.log");
  const script = join(import.meta.dir, "../../../server/proxy/access-log.ts");
  const writer = (name: string) =>
    Bun.spawn(
      [
        process.execPath,
        "-e",
        `const { AccessLog } = await import(${JSON.stringify(script)});
         const log = new AccessLog(${JSON.stringify(path)}, { say: (l) => console.error(l) });
         for (let n = 0; n < 20000; n++) log.add({ at: Date.now(), status: 200, method: "GET", target: "/${name}/" + n, host: "h", ms: 1, bytes: n, track: "production", backend: "b", visitor: "v", requestId: "${name}-" + n, userAgent: "x".repeat(n % 200) });
         log.close();`,
      ],
      { stderr: "pipe" },
    );
  const children = [writer("a"), writer("b")];
  expect(await Promise.all(children.map((c) => c.exited))).toEqual([0, 0]);
  const all = lines(path);
  expect(all).toHaveLength(40_000);
  for (const name of ["a", "b"]) {
    const ids = all
      .map((l) => new RegExp(`request_id=${name}-(\\d+) `).exec(l)?.[1])
      .filter(Boolean);
    expect(ids).toEqual(Array.from({ length: 20000 }, (_, n) => String(n)));
  }
  expect(all.every((l) => /^\S+Z status=200 .* user_agent=\S*$/.test(l))).toBe(true);
});

test("a log that cannot be written costs no request: lines are dropped and said once, then written when it can be", () => {
  const dir = fileTempDir("access-");
  const missing = join(dir, "not-yet", "access.log");
  const said: string[] = [];
  const log = new AccessLog(missing, { flushMs: 60_000, flushBytes: 1, say: (l) => said.push(l) });
  log.add(entry(1));
  log.add(entry(2));
  expect(said).toHaveLength(1);
  expect(said[0]).toMatch(
    /^access log \S+\/not-yet\/access.log: cannot open it \(ENOENT.*\) — requests are served and not logged; the proxy's user must be able to write there$/,
  );
  // the directory appears (a converge): the next line is written
  mkdirSync(join(dir, "not-yet"));
  log.add(entry(3));
  expect(lines(missing)).toEqual([expect.stringContaining("request_id=id-3 ")]);
  log.close();

  // a full disk
  const full: string[] = [];
  const onFull = new AccessLog("/dev/full", {
    flushMs: 60_000,
    flushBytes: 1,
    say: (l) => full.push(l),
  });
  for (let n = 0; n < 50; n++) onFull.add(entry(n));
  onFull.close();
  expect(full).toEqual([
    "access log /dev/full: 1 line(s) not written (ENOSPC: no space left on device, write) — requests are still served",
  ]);
});

test("the host's rotation looks on a timer (every second on a host), and says once what stops it", async () => {
  const dir = fileTempDir("access-");
  const path = join(dir, "access.log");
  writeFileSync(path, "x".repeat(200));
  const said: string[] = [];
  const stop = startRotation(path, 100, 1, (l) => said.push(l), 100);
  try {
    await eventually(async () => existsSync(`${path}.1`), 5000, "the rotation");
    expect(readFileSync(`${path}.1`, "utf8")).toHaveLength(200);
    expect(existsSync(path)).toBe(false);
    // a rotated file that cannot be replaced: a directory in its place
    writeFileSync(path, "y".repeat(200));
    rmSync(`${path}.1`);
    mkdirSync(`${path}.1`);
    writeFileSync(join(`${path}.1`, "keep"), "");
    await eventually(async () => said.length > 0, 5000, "the rotation saying what stops it");
    // several looks more, no more words
    await Bun.sleep(350);
    expect(said).toHaveLength(1);
    expect(said[0]).toMatch(/^access log \S+access\.log: cannot rotate it \(/);
  } finally {
    stop();
  }
  renameSync(path, `${path}.kept`);
});
