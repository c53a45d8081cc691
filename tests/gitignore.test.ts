import { expect, test } from "bun:test";
import { copyFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { tempDir } from "./helpers/tmp.ts";

// in a repository of its own: the test also runs in checkouts that are not git repositories
// (the receiver's workspaces)
const repo = tempDir("dropship-gitignore-");
copyFileSync(resolve(import.meta.dir, "../.gitignore"), join(repo, ".gitignore"));
Bun.spawnSync(["git", "init", "-q", repo]);
const ignored = (path: string) =>
  Bun.spawnSync(["git", "-C", repo, "check-ignore", "-q", "--no-index", path]).exitCode === 0;

test("a lock file a push needs is never ignored; secrets and local state are", () => {
  for (const lock of ["bun.lock", "bun.lockb", "package-lock.json"])
    expect(ignored(lock)).toBe(false);
  for (const local of [".env", ".env.production", ".dropship/fleet.env", "node_modules/x"]) {
    expect(ignored(local)).toBe(true);
  }
});
