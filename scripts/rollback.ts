import { rmSync } from "node:fs";
import { join } from "node:path";
import { setRelease } from "../gitops/model.ts";
import { inventoryRepoFor } from "../gitops/repo.ts";
import { recordShipped } from "../pipeline/deploy.ts";
import { readFleet } from "../pipeline/fleet.ts";
import { readFreeze } from "../pipeline/freeze.ts";
import { runHook } from "../pipeline/hooks.ts";
import { releasesOn, switchRelease } from "../pipeline/rollout.ts";
import { releaseVersion } from "../server/shared/host/layout.ts";
import { healthUrlOf, ROLES } from "../server/shared/roles.ts";
import { targetOf, withSsh } from "../server/shared/ssh.ts";
import { ArgumentError, FLEET_ENV, runVerb, UsageError, type VerbSpec } from "./lib/cli.ts";
import { receiverSettings } from "./lib/receiver-env.ts";
import { actor } from "./lib/redis.ts";

const SPEC = {
  verb: "rollback",
  usage: ["rollback production|staging [RELEASE]"],
  about: `Puts every host of a role back on RELEASE (default: the last release that went live on it
before the current one), one host at a time, each restarted and health-checked; then points the branch
(master or staging) at that release's commit when the receiver's repository has it.`,
  env: [...FLEET_ENV, "DROPSHIP_REPOS", "DROPSHIP_GITOPS_TOKEN"],
  positionals: 2,
} satisfies VerbSpec;

await runVerb(SPEC, async ({ positionals: [role, release] }) => {
  if (role !== "production" && role !== "staging")
    throw new ArgumentError(`say production or staging${role ? `, not ${role}` : ""}`);
  const started = performance.now();
  const settings = receiverSettings();
  const freeze = readFreeze(settings.workDir);
  // the way back from a bad release is what a freeze during an incident is for
  if (freeze)
    console.log(
      `(deploys are frozen since ${freeze.since} by ${freeze.by}: “${freeze.reason}”; a rollback goes all the same)`,
    );
  const fleet = readFleet(settings.fleet.inventories);
  const hosts = fleet.hosts.filter((h) => h.role === role);
  if (hosts.length === 0)
    throw new UsageError(`no ${role} hosts in ${settings.fleet.inventories.join(" + ")}`);
  let target = release;
  for (const host of hosts) {
    await withSsh(targetOf(host, fleet), async (ssh) => {
      const { current, all, live } = await releasesOn(ssh);
      // by default, the last release that went live before the current one and is still there
      const goal = release ?? [...live].reverse().find((r) => r !== current && all.includes(r));
      if (!goal)
        throw new UsageError(
          `${host.name} has no release before ${current ?? "its current one"} to go back to`,
        );
      if (!all.includes(goal))
        throw new UsageError(
          `${host.name} does not have release ${goal} (it has ${all.join(", ")})`,
        );
      await switchRelease(
        ssh,
        goal,
        ROLES[role].services,
        healthUrlOf(settings.config, role, host.address),
        settings.config.pipeline.health_timeout,
      );
      console.log(`↺ ${host.name}: ${current ?? "nothing"} → ${goal}`);
      target = goal;
    });
  }
  if (settings.fleet.gitopsRepo && target) {
    const repo = inventoryRepoFor(settings.config, {
      ...process.env,
      DROPSHIP_GITOPS_REPO: settings.fleet.gitopsRepo,
    });
    await repo.commit(
      setRelease(await repo.read(), role, target),
      `rollback ${role}: back to ${target} by ${actor()}`,
    );
  }
  const branch = role === "production" ? "master" : "staging";
  const commit = Bun.spawnSync([
    "git",
    "--git-dir",
    settings.repo,
    "rev-parse",
    "--verify",
    "-q",
    `${target}^{commit}`,
  ])
    .stdout.toString()
    .trim();
  if (commit) {
    Bun.spawnSync([
      "git",
      "--git-dir",
      settings.repo,
      "update-ref",
      `refs/heads/${branch}`,
      commit,
    ]);
    recordShipped(settings.workDir, role, commit);
    console.log(`${branch} now names ${releaseVersion(commit)}`);
  } else {
    // the next push then checks against the branch itself
    rmSync(join(settings.workDir, "locks", `${role}.shipped`), { force: true });
  }
  const { hooks } = settings.config.pipeline;
  if (hooks.post_deploy && target) {
    const event = {
      command: "rollback" as const,
      role,
      branch,
      commit,
      version: target,
      performer: actor(),
      hosts: hosts.map((h) => h.name),
      runtime: (performance.now() - started) / 1000,
    };
    await runHook("post_deploy", hooks.post_deploy, event, {
      timeoutMs: hooks.timeout,
      cwd: settings.hookDir,
      say: (line) => console.log(line),
    }).catch((error) => console.log(`  ! ${(error as Error).message} (the rollback is done)`));
  }
});
