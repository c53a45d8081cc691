import { expect, test } from "bun:test";
import { copyFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { tempDir } from "./helpers/tmp.ts";

// In a repository of its own: the test also runs where the tree is no git repository, or
// inside a git hook whose GIT_DIR points elsewhere (the receiver's test gate).
const repo = tempDir("dropship-gitignore-");
copyFileSync(resolve(import.meta.dir, "../.gitignore"), join(repo, ".gitignore"));
const env = Object.fromEntries(
  Object.entries(process.env).filter(([name]) => !name.startsWith("GIT_")),
) as Record<string, string>;
Bun.spawnSync(["git", "init", "-q", repo], { env });
const ignored = (path: string) =>
  Bun.spawnSync(["git", "-C", repo, "check-ignore", "-q", "--no-index", path], { env }).exitCode ===
  0;

test("a lock file a push needs is never ignored; secrets and local state are", () => {
  for (const lock of ["bun.lock", "bun.lockb", "package-lock.json"])
    expect(ignored(lock)).toBe(false);
  for (const local of [
    ".env",
    ".env.production",
    ".dropship/fleet.env",
    "node_modules/x",
    ".e1600f8a777ea8cd-00000000.bun-build",
  ]) {
    expect(ignored(local)).toBe(true);
  }
});
