import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { type RunningServer, serverEntry, startServer } from "./server.ts";
import { fileTempDir } from "./tmp.ts";

/**
 * A receiver of its own (server/receiver/main.ts) with `config` as its dropship.yml and
 * `token` as the admin token, its repositories and workspaces in a folder of its own; no
 * fleet, so a push that passes the gate is stored, not deployed. Stopped after the file.
 */
export async function startReceiver(
  config: string,
  token: string,
  env: Record<string, string> = {},
  /** the line it is ready at, if not its "listening" line */
  ready?: RegExp,
): Promise<{ receiver: RunningServer; dir: string }> {
  const dir = fileTempDir();
  writeFileSync(join(dir, "dropship.yml"), config);
  const receiver = await startServer(
    "receiver",
    {
      DROPSHIP_ADMIN_TOKEN: token,
      DROPSHIP_REPOS: join(dir, "repos"),
      DROPSHIP_WORK: join(dir, "work"),
      DROPSHIP_GITOPS_REPO: join(dir, "inventory"),
      DROPSHIP_CONFIG: join(dir, "dropship.yml"),
      ...env,
    },
    ready ? { ready } : {},
  );
  return { receiver, dir };
}

/**
 * Runs a receiver that must not start, with `config` as its dropship.yml, to its end: answers
 * its exit code, what it wrote to stderr, and the folder its config is in.
 */
export function receiverThatStops(
  config: string,
  token: string,
  port = 0,
): { code: number | null; stderr: string; dir: string } {
  const dir = fileTempDir();
  writeFileSync(join(dir, "dropship.yml"), config);
  const run = Bun.spawnSync([process.execPath, serverEntry("receiver")], {
    cwd: join(import.meta.dir, "../.."),
    env: {
      PATH: process.env.PATH ?? "",
      PORT: String(port),
      HOST: "127.0.0.1",
      DROPSHIP_ADMIN_TOKEN: token,
      DROPSHIP_REPOS: join(dir, "repos"),
      DROPSHIP_WORK: join(dir, "work"),
      DROPSHIP_CONFIG: join(dir, "dropship.yml"),
    },
    stderr: "pipe",
    timeout: 20_000,
  });
  return { code: run.exitCode, stderr: run.stderr.toString(), dir };
}

/** Runs git in `cwd` as a throwaway committer; answers its output. */
export const git = (cwd: string, ...args: string[]): string =>
  Bun.spawnSync(["git", "-c", "user.name=t", "-c", "user.email=t@t", ...args], {
    cwd,
    stderr: "pipe",
  })
    .stdout.toString()
    .trim();

/**
 * The smallest app the gate takes: a package.json with a lock file and a build script that
 * makes its output folder, committed in `<dir>/app`. Answers the folder and the commit.
 */
export function pushableApp(dir: string): { app: string; commit: string } {
  const app = join(dir, "app");
  mkdirSync(join(app, "scripts"), { recursive: true });
  writeFileSync(join(app, "package.json"), '{ "name": "pushed", "private": true }\n');
  writeFileSync(
    join(app, "package-lock.json"),
    '{ "name": "pushed", "lockfileVersion": 3, "requires": true, "packages": { "": { "name": "pushed" } } }\n',
  );
  writeFileSync(
    join(app, "scripts/build.ts"),
    'import { mkdirSync } from "node:fs";\nmkdirSync(process.argv[3] as string, { recursive: true });\n',
  );
  git(app, "init", "-q");
  git(app, "add", ".");
  git(app, "commit", "-q", "-m", "pushed");
  return { app, commit: git(app, "rev-parse", "HEAD") };
}
