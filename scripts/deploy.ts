import { existsSync } from "node:fs";
import { deployingBranches, roleOfRef } from "../pipeline/branches.ts";
import { deploy } from "../pipeline/deploy.ts";
import { releaseVersion } from "../server/shared/host/layout.ts";
import { ArgumentError, FLEET_ENV, runVerb, UsageError, type VerbSpec } from "./lib/cli.ts";
import { receiverSettings } from "./lib/receiver-env.ts";
import { actor } from "./lib/redis.ts";

const SPEC = {
  verb: "deploy",
  usage: ["deploy BRANCH [COMMIT]"],
  about: `Does what a push does, without one: tests, builds and rolls out COMMIT (default: the
branch's tip in the receiver's repository) to the hosts of the branch's role
(pipeline.branches: master and main deploy production, staging the canary), then moves the
branch to it, as the receiver does.`,
  env: [...FLEET_ENV, "DROPSHIP_REPOS", "DROPSHIP_REPO", "REDIS_URL"],
  positionals: 2,
} satisfies VerbSpec;

await runVerb(SPEC, async ({ positionals: [branch, commitArg] }) => {
  const settings = receiverSettings();
  const { branches } = settings.config.pipeline;
  const role = branch === undefined ? undefined : roleOfRef(branches, `refs/heads/${branch}`);
  if (!branch || !role)
    throw new ArgumentError(
      `usage: deploy BRANCH [COMMIT], where BRANCH is one that deploys: ${deployingBranches(branches)}`,
    );
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
  if (!commit)
    throw new UsageError(
      commitArg === undefined
        ? `nothing was pushed to ${branch} yet in ${settings.repo} — push it, or name a COMMIT`
        : `${commitArg} is not a commit in ${settings.repo}`,
    );
  const who = actor();
  const code = await deploy(
    branch,
    role,
    tip || "0".repeat(40),
    commit,
    { ...settings, fleet: () => settings.fleet, pusher: who, command: "deploy" },
    (line) => console.log(line),
  );
  if (code !== 0) throw new UsageError(`${releaseVersion(commit)} was not deployed (see above)`);
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
