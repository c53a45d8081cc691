import {
  copyFileSync,
  existsSync,
  mkdirSync,
  readFileSync,
  rmSync,
  utimesSync,
  writeFileSync,
} from "node:fs";
import { totalmem } from "node:os";
import { basename, dirname, join } from "node:path";
import { fromYaml, setRelease } from "../gitops/model.ts";
import { inventoryRepoFor } from "../gitops/repo.ts";
import type { Config, RoleName } from "../server/shared/config/schema.ts";
import { releaseFiles } from "../server/shared/deliver.ts";
import { HOST_RELEASES_KEPT, releaseVersion } from "../server/shared/host/layout.ts";
import { backendIdFor } from "../server/shared/routing/model.ts";
import { describeSteps, type Step, startSteps } from "../server/shared/routing/steps.ts";
import { recordEvent } from "../server/shared/state/events.ts";
import { KEYS } from "../server/shared/state/keys.ts";
import { connectRedis, type RedisClient, whenReady } from "../server/shared/state/redis.ts";
import {
  CANARY_ANALYSIS_ALERT,
  changeCanary,
  clearAlert,
  listBackends,
  putBackend,
} from "../server/shared/state/routing.ts";
import { PLATFORM_ROLES, upgradePlatform } from "../server/shared/upgrade.ts";
import { testCommandOf } from "./branches.ts";
import { type DiskLimits, diskLimits, freeSpace, LEAST_AUTO_MIB } from "./disk.ts";
import { type FleetSource, readFleet } from "./fleet.ts";
import { freezeRefusal, readFreeze } from "./freeze.ts";
import { runGate } from "./gate.ts";
import { type HookEvent, runHook } from "./hooks.ts";
import { withRoleLock } from "./lock.ts";
import { recordPass, reusableRelease } from "./passed.ts";
import { describePrune, pruneWorkDir } from "./prune.ts";
import { rollout } from "./rollout.ts";
import { stepLimits } from "./sandbox.ts";

export interface DeploySettings {
  config: Config;
  /** where the hosts are, asked only when a deploy needs them; none: build and test only */
  fleet?: () => FleetSource | undefined;
  redisUrl?: string;
  workDir: string;
  pusher: string;
  /** what started it, for the hooks (default: a push) */
  command?: "push" | "deploy";
  /** where pipeline/hooks run: the config's folder (default: the work folder) */
  hookDir?: string;
}

/** Tests, builds and rolls out one commit of a branch; answers the exit code. */
export async function deploy(
  branch: string,
  role: RoleName,
  expected: string,
  commit: string,
  settings: DeploySettings,
  say: (line: string) => void,
) {
  const started = performance.now();
  const { config } = settings;
  say(`dropship: ${branch} ${releaseVersion(commit)} by ${settings.pusher} → ${role}`);
  let redis: RedisClient | undefined;
  let result = "failed";
  let kept = false;
  try {
    if (settings.redisUrl) {
      redis = connectRedis(settings.redisUrl, {
        purpose: "receiver",
        persistent: true,
        log: () => {},
      });
      await whenReady(redis, settings.redisUrl, 5000).catch(() =>
        say("  (Redis unreachable: no draining at the proxy, no record)"),
      );
    }
    await withRoleLock(
      join(settings.workDir, "locks"),
      role,
      `${branch} ${releaseVersion(commit)} by ${settings.pusher}`,
      config.pipeline.lock_timeout,
      say,
      async () => {
        // checked under the lock: a freeze set while this push waited for it counts too
        const frozen = freezeRefusal(readFreeze(settings.workDir));
        if (frozen) {
          result = "frozen";
          throw new Error(frozen);
        }
        // git checks the branch's old value only after this hook; a push that waited for the
        // lock must not deploy on top of a branch that moved meanwhile.
        // The previous holder released the lock a moment before git moved its branch, so the
        // branch may still look old: what the last deploy of this role shipped is the truth.
        // (only when it came from this branch: main and master may both ship production)
        const shipped =
          shippedFrom(settings.workDir, role) === branch
            ? lastShipped(settings.workDir, role)
            : undefined;
        const now =
          shipped ??
          Bun.spawnSync(["git", "rev-parse", "--verify", "-q", `refs/heads/${branch}`])
            .stdout.toString()
            .trim();
        if ((now || "0".repeat(40)) !== expected) {
          throw new Error(
            `${branch} moved to ${releaseVersion(now)} while this push waited; pull, then push again`,
          );
        }
        // what the last push left behind goes first: a disk nearly full can still take this one
        pruneOld(settings, say);
        const version = releaseVersion(commit);
        const testCommand = testCommandOf(config, role);
        const dir = releaseDir(settings.workDir, version);
        const passedAt = await reusableRelease(dir, commit, testCommand);
        if (passedAt) {
          say(
            `▸ gate: ${version} passed it at ${passedAt} with this test (${testCommand}); its build is used as it is`,
          );
        } else {
          const workspace = join(settings.workDir, "workspaces", role);
          try {
            const built = await runGate({
              commit,
              workspace,
              cacheRoot: join(settings.workDir, "cache", "node_modules"),
              testCommand,
              say,
              stepTimeoutMs: config.pipeline.step_timeout,
              installHosts: config.pipeline.install_hosts,
              limits: stepLimits(config.pipeline, totalmem(), gateDiskLimits(settings)),
            });
            keepRelease(settings.workDir, version, built);
            await recordPass(dir, commit, testCommand, built);
          } finally {
            // the tree, its build and whatever its tests wrote (~450 MB a role) are kept no
            // longer than the push: the release is kept on its own; under the lock, so the next
            // push of this role has not begun in it
            rmSync(workspace, { recursive: true, force: true });
          }
        }
        kept = true;
        const source = settings.fleet?.();
        const fleet = source ? readFleet(source.inventories) : { hosts: [], privateKey: "" };
        const hosts = fleet.hosts.filter((h) => h.role === role);
        if (hosts.length === 0) {
          say(`  no ${role} hosts in the inventory: built and tested, nothing to deploy`);
          result = "accepted";
        } else {
          const event: HookEvent = {
            command: settings.command ?? "push",
            role,
            branch,
            commit,
            version,
            performer: settings.pusher,
            hosts: hosts.map((h) => h.name),
          };
          const hooks = config.pipeline.hooks;
          const hookOptions = {
            timeoutMs: hooks.timeout,
            cwd: settings.hookDir ?? settings.workDir,
            say,
          };
          if (hooks.pre_deploy) {
            try {
              await runHook("pre_deploy", hooks.pre_deploy, event, hookOptions);
            } catch (error) {
              result = "refused";
              throw new Error(
                `${(error as Error).message} — no host was changed; fix what it checks (or the hook), then ${settings.command === "deploy" ? "deploy" : "push"} again`,
              );
            }
          }
          await rollout({
            hosts,
            privateKey: fleet.privateKey,
            privateKeyFile: fleet.privateKeyFile,
            version: releaseVersion(commit),
            binaries: releaseFiles(releaseDir(settings.workDir, version), role),
            services: ["app"],
            alsoWhenChanged: ["monitor"],
            healthPort: config.ports.app,
            healthTimeoutMs: config.pipeline.health_timeout,
            cacheDir: join(settings.workDir, "cache", "releases"),
            drain: (host, draining) =>
              drainAt(redis, `http://${host.address}:${config.ports.app}`, draining),
            drainGraceMs: 500,
            say,
          });
          result = "deployed";
          if (role === "production" && fleet.hosts.some((h) => PLATFORM_ROLES.includes(h.role))) {
            // the platform's own servers ship with master: proxy and Redis hosts, where changed
            say("▸ platform (proxy, monitor)");
            await upgradePlatform({
              hosts: fleet.hosts,
              privateKey: fleet.privateKey,
              privateKeyFile: fleet.privateKeyFile,
              version,
              releaseDir: releaseDir(settings.workDir, version),
              config,
              cacheDir: join(settings.workDir, "cache", "releases"),
              say,
            }).catch((error) =>
              say(
                `  ! the platform was not upgraded: ${(error as Error).message} — the app is live; fix, then bun run upgrade`,
              ),
            );
          }
          // the release is live: what follows is bookkeeping, and its failure is said, not fatal
          if (role === "staging" && redis?.status === "ready") {
            await startCanary(
              redis,
              releaseVersion(commit),
              settings.pusher,
              config.canary,
              say,
            ).catch((error) =>
              say(`  ! the canary was not restarted: ${(error as Error).message}`),
            );
          }
          if (source?.gitopsRepo) {
            await recordRelease(
              source.gitopsRepo,
              config,
              role,
              branch,
              commit,
              settings,
              say,
            ).catch((error) =>
              say(`  ! not recorded in the GitOps inventory: ${(error as Error).message}`),
            );
          }
          if (hooks.post_deploy) {
            const runtime = (performance.now() - started) / 1000;
            await runHook(
              "post_deploy",
              hooks.post_deploy,
              { ...event, runtime },
              hookOptions,
            ).catch((error) => say(`  ! ${(error as Error).message} (the release is live)`));
          }
        }
        recordShipped(settings.workDir, role, commit, branch);
      },
    );
    const seconds = ((performance.now() - started) / 1000).toFixed(1);
    say(
      result === "deployed"
        ? `✓ ${releaseVersion(commit)} is live on ${role} (${seconds} s)`
        : `✓ ${releaseVersion(commit)} passed the gate (${seconds} s); no ${role} host to deploy to`,
    );
    return 0;
  } catch (error) {
    say(`✗ push rejected: ${(error as Error).message}`);
    return 1;
  } finally {
    if (kept) pruneOld(settings, say);
    if (redis?.status === "ready") {
      await recordEvent(redis, KEYS.deploys, {
        commit,
        branch,
        role,
        who: settings.pusher,
        at: new Date().toISOString(),
        result,
        seconds: ((performance.now() - started) / 1000).toFixed(1),
      }).catch(() => undefined);
    }
    redis?.disconnect();
  }
}

/** Each release's binaries, kept so a new host can be given what its role runs without a rebuild. */
export function releaseDir(workDir: string, version: string): string {
  return join(workDir, "releases", version);
}

function keepRelease(workDir: string, version: string, binaries: string[]) {
  const dir = releaseDir(workDir, version);
  mkdirSync(dir, { recursive: true });
  // the build's digests too: what lets the prune tell a kept release's copies from others
  const sums = binaries[0] && join(dirname(binaries[0]), "SHA256SUMS");
  for (const file of sums && existsSync(sums) ? [...binaries, sums] : binaries) {
    // a new file, never the old one rewritten: a delivery of this release may be reading it
    const target = join(dir, basename(file));
    rmSync(target, { force: true });
    copyFileSync(file, target);
  }
  // kept again: the newest, whatever its name
  const now = new Date();
  utimesSync(dir, now, now);
}

/** What this push's gate may write: pipeline/step_disk, or half the space free under the work folder. */
function gateDiskLimits(settings: DeploySettings): DiskLimits {
  mkdirSync(settings.workDir, { recursive: true });
  const free = freeSpace(settings.workDir);
  const limits = diskLimits(settings.config.pipeline.step_disk, free);
  if (!limits)
    throw new Error(
      `the control host's disk under ${settings.workDir} has ${Math.floor((free.bavail * free.bsize) / 1024 / 1024)} MiB free, and a push needs ${2 * LEAST_AUTO_MIB} (pipeline/step_disk auto gives it half); free space there, or set pipeline/step_disk`,
    );
  return limits;
}

/**
 * Lets go of old releases, copies and installs, keeping the releases each role was last given
 * and what the inventory says a host runs. A failure is said, never fatal: the push is done.
 */
function pruneOld(settings: DeploySettings, say: (line: string) => void): void {
  try {
    const inventories = settings.fleet?.()?.inventories ?? [];
    const inUse = [
      // what each host keeps, a rollback's targets: a new host given one must find it here
      ...(["production", "staging"] as const).flatMap((role) =>
        recentlyShipped(settings.workDir, role, HOST_RELEASES_KEPT).map(releaseVersion),
      ),
      ...inventories
        .filter(existsSync)
        .flatMap((file) => fromYaml(readFileSync(file, "utf8")).hosts.map((h) => h.release ?? "")),
    ];
    const report = pruneWorkDir(settings.workDir, {
      keepReleases: settings.config.pipeline.keep_releases,
      inUse,
    });
    const said = describePrune(report);
    if (said) say(`  ${said}`);
  } catch (error) {
    say(`  ! old releases were not let go: ${(error as Error).message}`);
  }
}

/** What the last deploy of a role shipped, kept beside the role's lock. */
function shippedRecord(workDir: string, role: RoleName): string[] {
  const file = join(workDir, "locks", `${role}.shipped`);
  return existsSync(file) ? readFileSync(file, "utf8").trim().split(" ") : [];
}

/** The commit a role last shipped. */
export function lastShipped(workDir: string, role: RoleName): string | undefined {
  return shippedRecord(workDir, role)[0] || undefined;
}

/** The branch it was pushed on, when a push shipped it (setup and rollback name none). */
export function shippedFrom(workDir: string, role: RoleName): string | undefined {
  return shippedRecord(workDir, role)[1];
}

export function recordShipped(workDir: string, role: RoleName, commit: string, branch = ""): void {
  mkdirSync(join(workDir, "locks"), { recursive: true });
  writeFileSync(join(workDir, "locks", `${role}.shipped`), `${`${commit} ${branch}`.trim()}\n`);
  const history = [...recentlyShipped(workDir, role, HISTORY_KEPT - 1), commit];
  writeFileSync(historyFile(workDir, role), `${history.join("\n")}\n`);
}

/** The commits a role was given last, oldest first: what its hosts keep to go back to. */
export function recentlyShipped(workDir: string, role: RoleName, count: number): string[] {
  const file = historyFile(workDir, role);
  if (!existsSync(file)) return [];
  return readFileSync(file, "utf8").split("\n").filter(Boolean).slice(-count);
}

const HISTORY_KEPT = 10;
const historyFile = (workDir: string, role: RoleName) => join(workDir, "locks", `${role}.history`);

/** Takes a backend out of the proxies' rotation or puts it back; nothing when Redis is not there. */
export async function drainAt(redis: RedisClient | undefined, url: string, draining: boolean) {
  if (redis?.status !== "ready") return;
  const id = backendIdFor(url);
  const backend = (await listBackends(redis)).find((b) => b.id === id);
  if (backend && backend.draining !== draining)
    await putBackend(redis, { ...backend, draining }, "dropship-receiver");
}

/**
 * A new canary: staging traffic again (an abort was about the old one) at its configured share,
 * and a fresh draw of visitors. A staging rollback starts one too: what staging runs is a
 * different release, judged from nothing, as Argo Rollouts' undo is a new rollout.
 */
export async function startCanary(
  redis: RedisClient,
  release: string,
  pusher: string,
  canary: { weight: number; steps: readonly Step[] },
  say: (line: string) => void,
  how: "deployed" | "rolled back to" = "deployed",
) {
  // a push is the receiver's work on someone's behalf; a rollback is the person's own command
  const by = how === "deployed" ? `dropship-receiver (${pusher})` : pusher;
  await clearAlert(redis, CANARY_ANALYSIS_ALERT, by);
  const { now } = await changeCanary(
    redis,
    {
      state: "active",
      reason:
        how === "deployed" ? `canary ${release} deployed` : `staging rolled back to ${release}`,
      generation: release,
      ...startSteps(canary, Date.now()),
    },
    by,
  );
  say(`  canary ${release} active: ${now.weight}% of new visitors`);
  const where = describeSteps(now, Date.now());
  if (where) say(`  canary steps: ${where}`);
}

/** The release each host of the role now runs, as a commit in the GitOps inventory. */
async function recordRelease(
  gitopsRepo: string,
  config: Config,
  role: RoleName,
  branch: string,
  commit: string,
  settings: DeploySettings,
  say: (line: string) => void,
) {
  const repo = inventoryRepoFor(
    config,
    { DROPSHIP_GITOPS_REPO: gitopsRepo, DROPSHIP_GITOPS_TOKEN: process.env.DROPSHIP_GITOPS_TOKEN },
    say,
  );
  await repo.commit(
    setRelease(await repo.read(), role, releaseVersion(commit)),
    `deploy ${role}: ${releaseVersion(commit)} from ${branch} by ${settings.pusher}`,
  );
}
