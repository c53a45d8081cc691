import { expect, test } from "bun:test";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { tempDir } from "../helpers/tmp.ts";

// bun run freeze on this machine, and the commands it refuses that need no host. A push, a
// deploy and a rollback while frozen: tests/server/receiver/push.integration.test.ts.
const ROOT = resolve(import.meta.dir, "../..");

test("bun run freeze on, show and off; while on, bun run env set is refused and changes nothing", () => {
  const dir = tempDir("dropship-freeze-cli-");
  writeFileSync(join(dir, "dropship.yml"), "name: shop\n");
  const run = (script: string, ...args: string[]) => {
    const proc = Bun.spawnSync([process.execPath, join(ROOT, "scripts", script), ...args], {
      cwd: dir,
      env: {
        PATH: process.env.PATH ?? "",
        HOME: dir,
        DROPSHIP_GITOPS_REPO: join(dir, "none"),
        DROPSHIP_ACTOR: "ann@example.com",
      },
      stdout: "pipe",
      stderr: "pipe",
    });
    return { code: proc.exitCode, out: proc.stdout.toString(), err: proc.stderr.toString() };
  };
  expect(run("freeze.ts").out).toBe("not frozen: pushes and deploys ship\n");
  expect(run("env.ts", "set", "GREETING=hi").code).toBe(0);
  const settings = join(dir, ".dropship/app.env");
  const before = readFileSync(settings, "utf8");

  const noReason = run("freeze.ts", "on");
  expect(noReason.code).toBe(2);
  expect(noReason.err).toContain("say why deploys are frozen: bun run freeze on REASON");
  const on = run("freeze.ts", "on", "incident", "42:", "payments");
  expect(on.code).toBe(0);
  expect(on.out).toMatch(
    /^deploys: not frozen → frozen\nfrozen since \S+Z by ann@example\.com: “incident 42: payments” — pushes, deploy, env, restart and upgrade are refused; rollback, scaling and healing go on\n\(REDIS_URL is not set: not audited\)\n$/,
  );
  expect(existsSync(join(dir, ".dropship/work/freeze.json"))).toBe(true);
  expect(run("freeze.ts", "show").out).toStartWith("frozen since ");

  const refused = run("env.ts", "set", "GREETING=bye");
  expect(refused.code).toBe(1);
  expect(refused.err).toMatch(
    /dropship env: deploys are frozen since \S+Z by ann@example\.com: “incident 42: payments” — bun run freeze off lifts it \(rollbacks still go\)/,
  );
  expect(readFileSync(settings, "utf8")).toBe(before);

  const off = run("freeze.ts", "off");
  expect(off.out).toStartWith(
    "deploys: frozen → not frozen\nnot frozen: pushes and deploys ship\n",
  );
  expect(run("env.ts", "set", "GREETING=bye").code).toBe(0);
  expect(readFileSync(settings, "utf8")).not.toBe(before);
  expect(run("freeze.ts", "thaw").code).toBe(2);
});
