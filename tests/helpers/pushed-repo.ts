import { mkdirSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";

/** What `bun run build` is in a pushed test tree: it only makes its output folder. */
export const TRIVIAL_BUILD =
  'import { mkdirSync } from "node:fs";\nmkdirSync(process.argv[3] as string, { recursive: true });\n';

/**
 * A git repository at `repo` holding `files` (path → text) and a trivial build script, as
 * a push would bring it to the test gate; `git` runs git in it and gives its output.
 */
export function pushedRepo(repo: string, files: Record<string, string>, message: string) {
  for (const [path, text] of Object.entries({ "scripts/build.ts": TRIVIAL_BUILD, ...files })) {
    mkdirSync(dirname(join(repo, path)), { recursive: true });
    writeFileSync(join(repo, path), text);
  }
  const git = (...args: string[]) => {
    const run = Bun.spawnSync(["git", "-c", "user.name=t", "-c", "user.email=t@t", ...args], {
      cwd: repo,
      stderr: "pipe",
    });
    if (run.exitCode !== 0) throw new Error(`git ${args.join(" ")}: ${run.stderr}`);
    return run.stdout.toString().trim();
  };
  git("init", "-q");
  git("add", ".");
  git("commit", "-q", "-m", message);
  return { git, commit: git("rev-parse", "HEAD") };
}
