declare const DROPSHIP_BUILD_VERSION: string | undefined;

/**
 * The commit this code was built from: stamped by `bun run build` into a binary, taken from
 * DROPSHIP_VERSION when set (a deploy may name the release), else read from git.
 */
export const VERSION: string = resolveVersion();

function resolveVersion(): string {
  if (typeof DROPSHIP_BUILD_VERSION === "string") return DROPSHIP_BUILD_VERSION;
  if (process.env.DROPSHIP_VERSION) return process.env.DROPSHIP_VERSION;
  const git = Bun.spawnSync(["git", "rev-parse", "--short=12", "HEAD"], {
    cwd: import.meta.dir,
    stderr: "ignore",
  });
  return git.exitCode === 0 ? `${git.stdout.toString().trim()}-dev` : "dev";
}
