import { expect, test } from "bun:test";
import { cpSync, mkdirSync, symlinkSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { tempDir } from "../helpers/tmp.ts";

const ROOT = resolve(import.meta.dir, "../..");

function git(cwd: string, ...args: string[]) {
  const env = {
    ...process.env,
    GIT_AUTHOR_NAME: "t",
    GIT_AUTHOR_EMAIL: "t@t",
    GIT_COMMITTER_NAME: "t",
    GIT_COMMITTER_EMAIL: "t@t",
  };
  const proc = Bun.spawnSync(["git", ...args], { cwd, env, stdout: "pipe", stderr: "pipe" });
  return { code: proc.exitCode, output: proc.stdout.toString() + proc.stderr.toString() };
}

/** A developer's clone: this project's files in a new repo, sharing node_modules. */
function makeClone(): string {
  const dir = tempDir("dropship-hooks-");
  const files = git(ROOT, "ls-files", "-co", "--exclude-standard").output.trim().split("\n");
  for (const file of files.filter((f) => f && !f.includes(".integration.test."))) {
    mkdirSync(dirname(join(dir, file)), { recursive: true });
    cpSync(join(ROOT, file), join(dir, file));
  }
  symlinkSync(join(ROOT, "node_modules"), join(dir, "node_modules"));
  git(dir, "init", "-q", "-b", "main");
  git(dir, "add", "-A");
  expect(git(dir, "commit", "-q", "--no-verify", "-m", "start").code).toBe(0);
  return dir;
}

test("the pre-commit hook refuses a type error and lets a clean commit through", () => {
  const clone = makeClone();
  const install = Bun.spawnSync([process.execPath, "scripts/hooks.ts"], {
    cwd: clone,
    stdout: "pipe",
  });
  expect(install.exitCode).toBe(0);
  expect(install.stdout.toString()).toContain("pre-commit");

  writeFileSync(join(clone, "server/broken.ts"), 'export const port: number = "eighty";\n');
  git(clone, "add", "server/broken.ts");
  const refused = git(clone, "commit", "-m", "add a type error");
  expect(refused.code).not.toBe(0);
  expect(refused.output).toContain("commit refused");
  expect(refused.output).toMatch(/server\/broken\.ts.*TS2322/);
  expect(git(clone, "log", "--oneline").output.trim().split("\n")).toHaveLength(1);

  writeFileSync(join(clone, "server/broken.ts"), "export const port: number = 80;\n");
  git(clone, "add", "server/broken.ts");
  const accepted = git(clone, "commit", "-m", "add a clean file");
  expect(accepted.code).toBe(0);
  expect(git(clone, "log", "--oneline").output.trim().split("\n")).toHaveLength(2);
}, 120_000);
