import { existsSync } from "node:fs";
import { hostname, userInfo } from "node:os";
import { deploy } from "../server/receiver/hook.ts";
import { runCli, UsageError } from "./lib/cli.ts";
import { receiverSettings } from "./lib/receiver-env.ts";

const USAGE = `
Usage: bun run deploy master|staging [COMMIT]

Does what a push does, without one: tests, builds and rolls out COMMIT (default: the
branch's tip in the receiver's repository) to the branch's hosts, then moves the branch to
it. Reads DROPSHIP_REPOS (and DROPSHIP_REPO, default app), the hosts (DROPSHIP_INVENTORY, or
the GitOps inventory with DROPSHIP_SSH_KEY and DROPSHIP_KNOWN_HOSTS), DROPSHIP_CONFIG,
DROPSHIP_WORK and REDIS_URL, as the receiver does.
`;

await runCli("deploy", USAGE, async ([branch, commitArg, ...extra]) => {
  if (extra.length > 0 || (branch !== "master" && branch !== "staging"))
    throw new UsageError("usage: deploy master|staging [COMMIT]");
  const settings = receiverSettings();
  if (!existsSync(settings.repo))
    throw new UsageError(`no repository at ${settings.repo} — push to the receiver first`);
  // run where the receiver's hook runs: inside the bare repository
  process.chdir(settings.repo);
  const git = (...args: string[]) =>
    Bun.spawnSync(["git", ...args], { stderr: "pipe" })
      .stdout.toString()
      .trim();
  const tip = git("rev-parse", "--verify", "-q", `refs/heads/${branch}`);
  const commit = git("rev-parse", "--verify", "-q", `${commitArg ?? branch}^{commit}`);
  if (!commit) throw new UsageError(`${commitArg ?? branch} is not a commit in ${settings.repo}`);
  const role = branch === "master" ? "production" : "staging";
  const who = `${userInfo().username}@${hostname()}`;
  const code = await deploy(
    branch,
    role,
    tip || "0".repeat(40),
    commit,
    { ...settings, fleet: () => settings.fleet, pusher: who },
    (line) => console.log(line),
  );
  if (code !== 0) throw new UsageError(`${commit.slice(0, 12)} was not deployed (see above)`);
  const moved = Bun.spawnSync([
    "git",
    "update-ref",
    `refs/heads/${branch}`,
    commit,
    ...(tip ? [tip] : []),
  ]);
  if (moved.exitCode !== 0)
    throw new UsageError(`deployed, but ${branch} moved meanwhile; it was not updated`);
});
