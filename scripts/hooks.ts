import { chmodSync, existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { runVerb, UsageError, type VerbSpec } from "./lib/cli.ts";

const SPEC = {
  verb: "hooks",
  usage: ["hooks"],
  about: `Installs a git pre-commit hook in this clone (the seed's pre-commit gate): every commit runs
\`bun run check\` (types and lint) and the unit tests, and is refused when either fails.
Skip it once with \`git commit --no-verify\`.`,
} satisfies VerbSpec;

export const PRE_COMMIT = `#!/bin/sh
# Installed by \`bun run hooks\`: refuse the commit when the check or the unit tests fail.
cd "$(git rev-parse --show-toplevel)" || exit 1
if [ ! -x node_modules/.bin/bun ]; then
  echo "pre-commit: node_modules/.bin/bun is missing; run npm ci (or npm test once) first" >&2
  exit 1
fi
if ! out=$(node_modules/.bin/bun run precommit 2>&1); then
  printf '%s\n' "$out" >&2
  echo "pre-commit: commit refused — fix the problems above, or skip once with --no-verify" >&2
  exit 1
fi
`;

await runVerb(SPEC, async () => {
  const proc = Bun.spawnSync(["git", "rev-parse", "--git-path", "hooks"], { stderr: "pipe" });
  if (proc.exitCode !== 0) throw new UsageError("not inside a git clone; run it in one");
  const dir = proc.stdout.toString().trim();
  if (!existsSync(dir)) mkdirSync(dir, { recursive: true });
  const file = join(dir, "pre-commit");
  writeFileSync(file, PRE_COMMIT);
  chmodSync(file, 0o755);
  console.log(`installed ${file}: commits now run the check and the unit tests`);
});
