import { expect, test } from "bun:test";
import { appendFileSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { tempDir } from "../helpers/tmp.ts";

const ROOT = resolve(import.meta.dir, "../..");
const build = (outdir: string, servers: string, env: Record<string, string> = {}) =>
  Bun.spawnSync(
    [
      process.execPath,
      join(ROOT, "scripts/build.ts"),
      "--outdir",
      outdir,
      "--version",
      env.VERSION ?? "t-1",
    ],
    {
      env: { PATH: process.env.PATH ?? "", DROPSHIP_BUILD_SERVERS: servers, ...env },
      stdout: "pipe",
      stderr: "pipe",
    },
  );

test("DROPSHIP_BUILD_SERVERS compiles only the servers it names; a name it does not know is refused", () => {
  const outdir = tempDir("dropship-build-");
  const one = build(outdir, "monitor");
  expect(one.stderr.toString()).toBe("");
  expect(one.exitCode).toBe(0);
  expect(readdirSync(outdir).sort()).toEqual(["SHA256SUMS", "SOURCES", "dropship-monitor"]);
  expect(readFileSync(join(outdir, "SHA256SUMS"), "utf8")).toMatch(
    /^[0-9a-f]{64} {2}dropship-monitor\n$/,
  );
  const unknown = build(tempDir("dropship-build-"), "app,gateway");
  expect(unknown.exitCode).toBe(2);
  expect(unknown.stderr.toString()).toContain(
    "DROPSHIP_BUILD_SERVERS names gateway, not one of proxy, app, monitor, receiver",
  );
}, 60_000);

test("DROPSHIP_BUILD_CACHE: the same build again is copied, byte for byte; another version is compiled", () => {
  const cache = join(tempDir("dropship-build-cache-"), "builds");
  const sums = (outdir: string) => readFileSync(join(outdir, "SHA256SUMS"), "utf8");
  const COPIED = "(the same as a build in the cache)";
  const first = tempDir("dropship-build-");
  const compiled = build(first, "monitor", { DROPSHIP_BUILD_CACHE: cache });
  expect(compiled.exitCode).toBe(0);
  expect(compiled.stdout.toString()).not.toContain(COPIED);
  expect(readdirSync(cache)).toHaveLength(1);

  const again = tempDir("dropship-build-");
  const copied = build(again, "monitor", { DROPSHIP_BUILD_CACHE: cache });
  expect(copied.stderr.toString()).toBe("");
  expect(copied.stdout.toString()).toContain(COPIED);
  expect(sums(again)).toBe(sums(first));
  expect(readFileSync(join(again, "SOURCES"), "utf8")).toBe(
    readFileSync(join(first, "SOURCES"), "utf8"),
  );
  // a working binary, the one compiled: it runs and says its version
  const version = Bun.spawnSync([join(again, "dropship-monitor"), "--version"]);
  expect(version.stdout.toString().trim()).toBe("dropship-monitor t-1");

  // the version is compiled in: another one is another binary, compiled and kept beside
  const other = tempDir("dropship-build-");
  const next = build(other, "monitor", { DROPSHIP_BUILD_CACHE: cache, VERSION: "t-2" });
  expect(next.exitCode).toBe(0);
  expect(next.stdout.toString()).not.toContain(COPIED);
  expect(sums(other)).not.toBe(sums(first));
  expect(readdirSync(cache)).toHaveLength(2);
}, 60_000);

test("a build is named after its checkout's commit, -dirty only with changes to tracked files", () => {
  const checkout = join(tempDir("dropship-build-checkout-"), "app");
  Bun.spawnSync(["git", "clone", "-q", "--shared", ROOT, checkout]);
  symlinkSync(join(ROOT, "node_modules"), join(checkout, "node_modules"));
  const sha = Bun.spawnSync(["git", "-C", checkout, "rev-parse", "--short=12", "HEAD"])
    .stdout.toString()
    .trim();
  const versionBuilt = () => {
    const outdir = tempDir("dropship-build-");
    const built = Bun.spawnSync(
      [process.execPath, join(checkout, "scripts/build.ts"), "--outdir", outdir],
      {
        cwd: checkout,
        env: { PATH: process.env.PATH ?? "", DROPSHIP_BUILD_SERVERS: "monitor" },
        stderr: "pipe",
      },
    );
    expect(built.stderr.toString()).toBe("");
    return Bun.spawnSync([join(outdir, "dropship-monitor"), "--version"])
      .stdout.toString()
      .trim();
  };
  // dropship.yml, copied from the example as the guide says, is untracked: not a change to the code
  writeFileSync(join(checkout, "dropship.yml"), "name: shop\n");
  expect(versionBuilt()).toBe(`dropship-monitor ${sha}`);
  appendFileSync(join(checkout, "server/monitor/main.ts"), "\n");
  expect(versionBuilt()).toBe(`dropship-monitor ${sha}-dirty`);
}, 60_000);
