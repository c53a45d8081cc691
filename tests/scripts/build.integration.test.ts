import { expect, test } from "bun:test";
import { readdirSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { tempDir } from "../helpers/tmp.ts";

const ROOT = resolve(import.meta.dir, "../..");
const build = (outdir: string, servers: string) =>
  Bun.spawnSync(
    [process.execPath, join(ROOT, "scripts/build.ts"), "--outdir", outdir, "--version", "t-1"],
    {
      env: { PATH: process.env.PATH ?? "", DROPSHIP_BUILD_SERVERS: servers },
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
