import { chmodSync, copyFileSync, existsSync, mkdirSync, readdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { gitopsDir } from "../gitops/repo.ts";
import {
  APP_PATTERN,
  appDataPlan,
  type ControlFile,
  compareSets,
  type FlagStep,
  flagSteps,
  INVENTORY_FILE,
  type Manifest,
  PUT_BACK_WHERE_ABSENT,
  REDIS_FILE,
  repoBundle,
} from "../pipeline/backup.ts";
import { controlFilePaths, openSnapshot, readSets, verifyFile } from "../pipeline/backup-sets.ts";
import { createRepo, repoExists, repoPath } from "../pipeline/repos.ts";
import { loadLocatedConfig } from "../server/shared/config/locate.ts";
import { localPaths } from "../server/shared/config/paths.ts";
import { fileSha256 } from "../server/shared/file-digest.ts";
import { describeFlag } from "../server/shared/flags/model.ts";
import { run, runAsync } from "../server/shared/proc.ts";
import { recordAction } from "../server/shared/state/audit.ts";
import { applyChange, replicated } from "../server/shared/state/change.ts";
import { KEYS } from "../server/shared/state/keys.ts";
import type { RedisClient } from "../server/shared/state/redis.ts";
import { isSentinelUrl, parseSentinelUrl } from "../server/shared/state/sentinel-url.ts";
import { dumpKeys, removeKeys, restoreKeys, scanKeys } from "../server/shared/state/snapshot.ts";
import { ArgumentError, BACKUP_ENV, runVerb, UsageError, type VerbSpec } from "./lib/cli.ts";
import { actor, cliRedis } from "./lib/redis.ts";

const SPEC = {
  verb: "restore",
  usage: ["restore SET|latest [--yes]"],
  about: `Puts a backup set (bun run backup) back, after saying what it will change; --yes
changes it. The flags become the set's, each change audited and pushed to every server as any
flag change is; the app's data (its app:* keys) becomes the set's, keys made since removed; the
audit, deploy and scaling history and the certificates come back where the fleet has none (after
losing Redis) and are never written over; the routing table, canary, alerts, maintenance and
each host's figures are the fleet's now and are left alone. A missing GitOps inventory is made
again from the set's bundle; one that exists is left as it is.`,
  options: {
    yes: { type: "boolean", description: "change the fleet, not only say what would change" },
  },
  env: BACKUP_ENV,
  positionals: 1,
} satisfies VerbSpec;

await runVerb(SPEC, async ({ values, positionals: [wanted] }) => {
  if (!wanted) throw new ArgumentError("name the set to restore (bun run backup list), or latest");
  const { config } = loadLocatedConfig(() => {});
  const paths = localPaths(config, process.env);
  const dir = paths.backups;
  const sets = readSets(dir);
  const finished = sets.filter((s) => typeof s.manifest !== "string");
  const set =
    wanted === "latest"
      ? finished.sort((a, b) => compareSets(a.name, b.name)).at(-1)
      : sets.find((s) => s.name === wanted);
  if (!set)
    throw new UsageError(
      wanted === "latest"
        ? `no finished backup set in ${dir} — bun run backup takes one`
        : `no backup set ${wanted} in ${dir} — bun run backup list shows them`,
    );
  if (typeof set.manifest === "string")
    throw new UsageError(`backup set ${set.name} cannot be restored: ${set.manifest}`);
  const manifest = set.manifest;
  await verifyFile(join(set.dir, REDIS_FILE), manifest.redis);
  if (manifest.inventory) await verifyFile(join(set.dir, INVENTORY_FILE), manifest.inventory);
  for (const file of manifest.files ?? []) await verifyFile(join(set.dir, file.name), file);
  for (const repo of manifest.repos ?? [])
    await verifyFile(join(set.dir, repoBundle(repo.name)), repo);

  const url = process.env.REDIS_URL;
  if (!url)
    throw new UsageError("REDIS_URL is not set — the restore writes the fleet's Redis through it");
  // a pipeline of 500 keys' values may take longer than an ordinary command's 2 s
  const fleet = await cliRedis({ commandTimeoutMs: 120_000 });
  const snapshot = await openSnapshot(join(set.dir, REDIS_FILE), dbOf(url)).catch((error) => {
    fleet.disconnect();
    throw error;
  });
  try {
    const plan = await makePlan(snapshot.redis, fleet);
    const inventory = await inventoryPlan(gitopsDir(config), manifest, set.dir);
    const files = [
      ...(await filesPlan(controlFilePaths(paths.users), manifest, set.dir)),
      ...reposPlan(paths.repos, manifest, set.dir),
    ];
    console.log(`restore ${set.name} (taken ${manifest.createdAt} by ${manifest.by}):`);
    for (const line of describe(plan, inventory.say)) console.log(`  ${line}`);
    for (const file of files) console.log(`  ${file.say}`);
    if (!values.yes) {
      console.log(`nothing was changed: bun run restore ${set.name} --yes restores it`);
      return;
    }
    try {
      await apply(plan, snapshot.redis, fleet, set.name);
      if (inventory.make) await inventory.make();
      for (const file of files) file.make?.();
    } catch (error) {
      // each step only makes the fleet more like the set, so running it again finishes it
      throw new UsageError(
        `the restore of ${set.name} stopped part way (${(error as Error).message}); what it wrote stays — bun run restore ${set.name} --yes again finishes it, changing only what still differs`,
      );
    }
    await recordAction(fleet, {
      kind: "restore",
      target: set.name,
      actor: actor(),
      what: `restore ${set.name}: ${summary(plan)}${inventory.made ? "; GitOps inventory made from the bundle" : ""}${files.some((f) => f.make) ? `; made again: ${files.flatMap((f) => (f.make ? [f.name] : [])).join(", ")}` : ""}`,
    });
    console.log(`restored ${set.name}`);
  } finally {
    await snapshot.close();
    fleet.disconnect();
  }
});

function dbOf(url: string): number {
  if (isSentinelUrl(url)) return parseSentinelUrl(url).db;
  return Number(new URL(url).pathname.slice(1) || 0);
}

interface Plan {
  flags: FlagStep[];
  app: { write: string[]; remove: string[] };
  /** in the snapshot and absent in the fleet */
  putBack: string[];
  /** in both: the fleet's kept */
  kept: string[];
}

async function makePlan(snapshot: RedisClient, fleet: RedisClient): Promise<Plan> {
  const flags = flagSteps(await snapshot.hgetall(KEYS.flags), await fleet.hgetall(KEYS.flags));
  const app = appDataPlan(
    await scanKeys(snapshot, APP_PATTERN),
    await scanKeys(fleet, APP_PATTERN),
  );
  const putBack: string[] = [];
  const kept: string[] = [];
  for (const key of PUT_BACK_WHERE_ABSENT) {
    if (!(await snapshot.exists(key))) continue;
    ((await fleet.exists(key)) ? kept : putBack).push(key);
  }
  return { flags, app, putBack, kept };
}

function describe(plan: Plan, inventory: string): string[] {
  const flagText = (f: FlagStep) =>
    f.to === undefined
      ? `${f.name} removed (made since)`
      : `${f.name} ${f.from ? describeFlag(f.from) : "new"} → ${describeFlag(f.to)}`;
  return [
    `flags: ${plan.flags.length === 0 ? "as in the set" : plan.flags.map(flagText).join("; ")}`,
    `app data: ${plan.app.write.length} key(s) written from the set${plan.app.remove.length ? `, ${plan.app.remove.length} made since removed` : ""}`,
    `put back where the fleet has none: ${plan.putBack.join(", ") || "nothing (the fleet has them all)"}`,
    ...(plan.kept.length ? [`kept as the fleet has them: ${plan.kept.join(", ")}`] : []),
    "left as they are: the routing table, canary, alerts, maintenance and each host's figures",
    `GitOps inventory: ${inventory}`,
  ];
}

function summary(plan: Plan): string {
  return `${plan.flags.length} flag change(s), ${plan.app.write.length} app key(s) written, ${plan.app.remove.length} removed, put back: ${plan.putBack.join(", ") || "nothing"}`;
}

async function apply(plan: Plan, snapshot: RedisClient, fleet: RedisClient, name: string) {
  // history first: the flag changes below write the audit stream, which then exists
  const putBack = await restoreKeys(fleet, await dumpKeys(snapshot, plan.putBack), {
    replace: false,
  });
  if (putBack.present.length > 0)
    console.log(`  kept (written since the plan): ${putBack.present.join(", ")}`);
  await removeKeys(fleet, plan.app.remove);
  await restoreKeys(fleet, await dumpKeys(snapshot, plan.app.write), { replace: true });
  await replicated(fleet);
  const who = `${actor()} (restore ${name})`;
  for (const step of plan.flags)
    await applyChange(fleet, {
      hash: KEYS.flags,
      field: step.name,
      value: step.to && { name: step.name, enabled: step.to.enabled, rollout: step.to.rollout },
      mode: "upsert",
      kind: "flag",
      actor: who,
    });
}

async function inventoryPlan(
  repo: string,
  manifest: Manifest,
  setDir: string,
): Promise<{ say: string; make?: () => Promise<void>; made?: boolean }> {
  const exists = existsSync(repo) && readdirSync(repo).length > 0;
  if (!manifest.inventory)
    return {
      say: `none in the set; ${exists ? "the one at" : "nothing at"} ${repo} left as it is`,
    };
  const at = manifest.inventory.head.slice(0, 7);
  if (exists) {
    const head = await runAsync(["git", "-C", repo, "rev-parse", "--verify", "HEAD"]);
    const now = head.code === 0 ? head.stdout.trim() : "";
    return {
      say:
        now === manifest.inventory.head
          ? `as in the set (${at})`
          : `${repo} is at ${now.slice(0, 7) || "no commit"}, the set at ${at}: left as it is (git fetch the set's ${INVENTORY_FILE} to compare)`,
    };
  }
  const plan: { say: string; make: () => Promise<void>; made?: boolean } = {
    say: `missing at ${repo}: made from the set's bundle (${at})`,
    make: async () => {
      const bundle = join(setDir, INVENTORY_FILE);
      const cloned = await runAsync(["git", "clone", "--quiet", bundle, repo]);
      if (cloned.code !== 0)
        throw new UsageError(`git clone of ${bundle} into ${repo} failed: ${cloned.stderr.trim()}`);
      await runAsync(["git", "-C", repo, "remote", "remove", "origin"]);
      plan.made = true;
    },
  };
  return plan;
}

/**
 * The control host's files: one that is missing is made again from the set; one that exists is
 * the team's now, changed by bun run env or users (env's rolling restart gives it to the hosts),
 * and is left as it is.
 */
async function filesPlan(
  paths: Record<ControlFile, string>,
  manifest: Manifest,
  setDir: string,
): Promise<{ name: string; say: string; make?: () => void }[]> {
  return Promise.all(
    (manifest.files ?? []).map(async (file) => {
      const path = paths[file.name];
      if (!existsSync(path))
        return {
          name: file.name,
          say: `${file.name}: missing at ${path}: made again from the set`,
          make: () => {
            mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
            copyFileSync(join(setDir, file.name), path);
            chmodSync(path, 0o600);
          },
        };
      const same = (await fileSha256(path)) === file.sha256;
      return {
        name: file.name,
        say: same
          ? `${file.name}: as in the set`
          : `${file.name}: ${path} differs from the set's: left as it is (bun run ${file.name === "users" ? "users" : "env"} changes it)`,
      };
    }),
  );
}

/**
 * The receiver's repositories: one that is missing is made again as the receiver makes one
 * (its pre-receive hook in place) and given the set's branches and tags; one that exists holds
 * what was pushed since, and is left as it is.
 */
function reposPlan(
  root: string,
  manifest: Manifest,
  setDir: string,
): { name: string; say: string; make?: () => void }[] {
  return (manifest.repos ?? []).map(({ name }) => {
    const path = repoPath(root, name);
    if (repoExists(root, name))
      return { name: `${name}.git`, say: `repository ${name}: ${path} is there: left as it is` };
    return {
      name: `${name}.git`,
      say: `repository ${name}: missing at ${path}: made again from the set's bundle`,
      make: () => {
        createRepo(path);
        const bundle = join(setDir, repoBundle(name));
        run([
          "git",
          "--git-dir",
          path,
          "fetch",
          "--quiet",
          bundle,
          "refs/heads/*:refs/heads/*",
          "refs/tags/*:refs/tags/*",
        ]);
      },
    };
  });
}
