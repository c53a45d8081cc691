import { chmodSync, existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { run } from "../server/shared/proc.ts";

// The receiver's bare repositories: where pushes land and the pipeline reads commits from.

export function repoPath(root: string, repo: string): string {
  return join(root, `${repo}.git`);
}

export function repoExists(root: string, repo: string): boolean {
  return existsSync(join(repoPath(root, repo), "HEAD"));
}

const HOOK = `#!/bin/sh
# Installed by dropship-receiver: pushes to master and staging are tested and deployed here.
if [ -z "\${DROPSHIP_HOOK_EXEC:-}" ]; then
  echo "dropship: push through dropship-receiver (git remote add prod http://HOST:PORT/REPO.git)" >&2
  exit 1
fi
exec "$DROPSHIP_HOOK_EXEC" $DROPSHIP_HOOK_ARGS --hook pre-receive
`;

/** A bare repository whose pushes go through the pre-receive hook (test gate and deploy). */
export function createRepo(dir: string) {
  run(["git", "init", "--quiet", "--bare", "--initial-branch=master", dir]);
  run(["git", "--git-dir", dir, "config", "http.receivepack", "true"]);
  writeFileSync(join(dir, "hooks", "pre-receive"), HOOK);
  chmodSync(join(dir, "hooks", "pre-receive"), 0o755);
}
