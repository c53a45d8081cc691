import { expect, test } from "bun:test";
import { readFileSync, statSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { tempDir } from "../helpers/tmp.ts";

// bun run env before there are hosts: the settings are kept for setup to hand out. With hosts,
// tests/server/receiver/push.integration.test.ts.
const ROOT = resolve(import.meta.dir, "../..");

test("before any host, bun run env keeps the settings for setup, lists names only, and refuses what cannot be kept", () => {
  const dir = tempDir("dropship-env-");
  writeFileSync(join(dir, "dropship.yml"), "name: shop\n");
  const env = (...args: string[]) => {
    const proc = Bun.spawnSync([process.execPath, join(ROOT, "scripts/env.ts"), ...args], {
      cwd: dir,
      env: { PATH: process.env.PATH ?? "", HOME: dir, DROPSHIP_GITOPS_REPO: join(dir, "none") },
      stdout: "pipe",
      stderr: "pipe",
    });
    return { code: proc.exitCode, out: proc.stdout.toString(), err: proc.stderr.toString() };
  };
  const file = join(dir, ".dropship/app.env");
  expect(env().out).toBe(`no app settings yet (${file}) — bun run env set NAME=value\n`);
  const set = env("set", "MAIL_URL=smtp://u:pw@mail.example:587", "GREETING=hi there");
  expect(set).toMatchObject({ code: 0, err: expect.stringContaining("config: ") });
  expect(set.out).toBe(
    `app settings: added GREETING, MAIL_URL (${file})\nno hosts yet: bun run setup gives them to the app hosts it makes\n`,
  );
  expect(statSync(file).mode & 0o777).toBe(0o600);
  expect(env().out).toBe("GREETING  (set, 8 characters)\nMAIL_URL  (set, 28 characters)\n");
  expect(env("get", "MAIL_URL").out).toBe("smtp://u:pw@mail.example:587\n");
  expect(env("set", "GREETING=hi there").out).toBe(
    `app settings: unchanged (${file})\nno hosts yet: bun run setup gives them to the app hosts it makes\n`,
  );

  // refused whole, the file untouched
  const before = readFileSync(file, "utf8");
  const bad = env("set", "OK=1", "PORT=8080", "lower=x", "QUOTED=it's");
  expect(bad.code).toBe(2);
  expect(bad.err).toContain("PORT is dropship's own");
  expect(bad.err).toContain(`"lower" is not a setting's name`);
  expect(bad.err).toContain("the value of QUOTED holds a quote (')");
  expect(env("unset", "NOPE")).toMatchObject({
    code: 2,
    err: expect.stringContaining("NOPE is not set (bun run env lists what is)"),
  });
  expect(env("get", "NOPE")).toMatchObject({ code: 1 });
  expect(readFileSync(file, "utf8")).toBe(before);

  expect(env("unset", "MAIL_URL").out).toContain("app settings: removed MAIL_URL");
  expect(env().out).toBe("GREETING  (set, 8 characters)\n");
});
