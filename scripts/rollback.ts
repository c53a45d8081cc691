import { rmSync } from "node:fs";
import { join } from "node:path";
import { setRelease } from "../gitops/model.ts";
import { inventoryRepoFor } from "../gitops/repo.ts";
import { recordShipped, releaseDir, startCanary } from "../pipeline/deploy.ts";
import { readFleet } from "../pipeline/fleet.ts";
import { readFreeze } from "../pipeline/freeze.ts";
import { runHook } from "../pipeline/hooks.ts";
import { rollBackRole } from "../pipeline/rollout.ts";
import { releaseVersion } from "../server/shared/host/layout.ts";
import { ROLES } from "../server/shared/roles.ts";
import { recordAction } from "../server/shared/state/audit.ts";
import { recordEvent } from "../server/shared/state/events.ts";
import { KEYS } from "../server/shared/state/keys.ts";
import { eachAppRole } from "./lib/app-hosts.ts";
import { ArgumentError, FLEET_ENV, runVerb, UsageError, type VerbSpec } from "./lib/cli.ts";
import { receiverSettings } from "./lib/receiver-env.ts";
import { actor } from "./lib/redis.ts";

const SPEC = {
  verb: "rollback",
  usage: ["rollback production|staging [RELEASE]"],
  about: `Puts every host of a role back on RELEASE (default: the last release that went live on it
before the current one), one host at a time as a deploy does: drained at the proxy, switched,
restarted, healthy, back in rotation; then points the branch (master or staging) at that
release's commit when the receiver's repository has it. Goes during a freeze; waits for a deploy
under way. Audited, and listed with the deploys. A staging rollback starts a new canary for the
release it puts back, as a push to staging does.`,
  env: [...FLEET_ENV, "REDIS_URL", "DROPSHIP_ACTOR", "DROPSHIP_REPOS", "DROPSHIP_GITOPS_TOKEN"],
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
  const hosts = readFleet(settings.fleet.inventories).hosts.filter((h) => h.role === role);
  if (hosts.length === 0)
    throw new UsageError(`no ${role} hosts in ${settings.fleet.inventories.join(" + ")}`);
  const branch = role === "production" ? "master" : "staging";
  let target: string | undefined;
  await eachAppRole(
    settings,
    [role],
    {
      verb: "rollback",
      finish: async (redis) => {
        if (!target) return;
        // the canary record must name what staging runs, and an abort was about the release left
        if (role === "staging")
          await startCanary(
            redis,
            target,
            actor(),
            settings.config.canary,
            (line) => console.log(line),
            "rolled back to",
          ).catch((error) =>
            console.log(`  ! the canary was not restarted: ${(error as Error).message}`),
          );
        await recordAction(redis, {
          kind: "rollback",
          target: role,
          actor: actor(),
          what: `back to ${target}`,
        });
        await recordEvent(redis, KEYS.deploys, {
          commit: target,
          branch,
          role,
          who: actor(),
          at: new Date().toISOString(),
          result: "rolled back",
          seconds: ((performance.now() - started) / 1000).toFixed(1),
        });
      },
    },
    async (options) => {
      target = await rollBackRole({
        ...options,
        services: ROLES[role].services,
        kept: {
          role,
          dir: (version) => releaseDir(settings.workDir, version),
          cacheDir: join(settings.workDir, "cache", "releases"),
        },
        ...(release === undefined ? {} : { release }),
      });
      return options.hosts.map((h) => h.name);
    },
  );
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
