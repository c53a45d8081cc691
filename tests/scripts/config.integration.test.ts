import { expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { tempDir } from "../helpers/tmp.ts";

const ROOT = resolve(import.meta.dir, "../..");

function runConfig(args: string[], env: Record<string, string> = {}) {
  const proc = Bun.spawnSync([process.execPath, join(ROOT, "scripts/config.ts"), ...args], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? "", ...env },
    stdout: "pipe",
    stderr: "pipe",
  });
  return { code: proc.exitCode, out: proc.stdout.toString(), err: proc.stderr.toString() };
}

test("bun run config prints the resolved config with secrets masked", () => {
  const dir = tempDir();
  const file = join(dir, "dropship.yml");
  writeFileSync(file, "name: shop\ncanary: { weight: 10 }\n");
  const { code, out } = runConfig([file], {
    DIGITALOCEAN_TOKEN: "dop_v1_supersecret",
    REDIS_URL: "redis://:hunter2hunter2@10.0.0.2:6379/0",
  });
  expect(code).toBe(0);
  expect(out).toContain("name: shop");
  expect(out).toContain("weight: 10");
  expect(out).toContain("cooldown: 10m");
  expect(out).toContain("REDIS_URL: redis://:****@10.0.0.2:6379/0");
  expect(out).toContain("DIGITALOCEAN_TOKEN: (set, 18 characters)");
  expect(out).not.toContain("supersecret");
  expect(out).not.toContain("hunter2");
});

test("an invalid file exits 1 and lists every problem", () => {
  const dir = tempDir();
  const file = join(dir, "bad.yml");
  writeFileSync(
    file,
    "roles: { production: { sise: x } }\nautoscale: { up_above: 40, down_below: 60 }\n",
  );
  const { code, out, err } = runConfig([file]);
  expect(code).toBe(1);
  expect(out).toBe("");
  expect(err).toContain("2 problems");
  expect(err).toContain("roles/production/sise: unknown key — did you mean size?");
  expect(err).toContain("autoscale/down_below: must be below autoscale/up_above (40)");
});

test("a missing file says how to make one", () => {
  const { code, err } = runConfig(["/nonexistent/dropship.yml"]);
  expect(code).toBe(1);
  expect(err).toContain("copy dropship.example.yml to dropship.yml");
});
