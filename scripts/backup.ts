import { mkdirSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { gitopsDir } from "../gitops/repo.ts";
import {
  DEFAULT_KEEP,
  freshSetName,
  INVENTORY_FILE,
  keepFault,
  MANIFEST,
  type Manifest,
  REDIS_FILE,
  setsToPrune,
} from "../pipeline/backup.ts";
import { loadLocatedConfig } from "../server/shared/config/locate.ts";
import { localPaths } from "../server/shared/config/paths.ts";
import { VERSION } from "../server/shared/version.ts";
import { auditAction } from "./lib/audit.ts";
import {
  bundleInventory,
  CAPTURE_TIMEOUT_MS,
  captureRedis,
  checkSnapshot,
  controlFilePaths,
  copyControlFiles,
  privateDir,
  readSets,
  redisSource,
} from "./lib/backup.ts";
import { ArgumentError, runVerb, UsageError, type VerbSpec } from "./lib/cli.ts";
import { actor } from "./lib/redis.ts";
import { printTable } from "./lib/table.ts";

const SPEC = {
  verb: "backup",
  usage: ["backup [--keep N]", "backup list"],
  about: `Takes a backup set of the fleet's state into DROPSHIP_BACKUPS: Redis's own snapshot of
the primary (flags, the audit and deploy history, certificates, the app's data), fetched as a
replica fetches one, and the GitOps inventory's repository as a git bundle, with a manifest of
their sizes and digests. The folder and files are this user's only (they hold the certificates'
keys). The newest N sets are kept (default ${DEFAULT_KEEP}). Run it from cron for a schedule;
bun run restore puts a set back. list shows the sets.`,
  options: {
    keep: {
      type: "string",
      value: "N",
      description: `sets kept, newest first (default ${DEFAULT_KEEP})`,
    },
  },
  env: [
    "REDIS_URL",
    "DROPSHIP_CONFIG",
    "DROPSHIP_GITOPS_REPO",
    "DROPSHIP_BACKUPS",
    "DROPSHIP_ACTOR",
  ],
  positionals: 1,
} satisfies VerbSpec;

/** An unfinished set older than this was left by a run that died; no run takes half as long. */
const ABANDONED_MS = 2 * CAPTURE_TIMEOUT_MS + 60_000;

await runVerb(SPEC, async ({ values, positionals: [verb] }) => {
  const { config } = loadLocatedConfig(() => {});
  const paths = localPaths(config, process.env);
  const dir = paths.backups;
  if (verb === "list") return list(dir);
  if (verb !== undefined) throw new ArgumentError(`unknown command ${verb} — use list, or nothing`);
  const keepText = (values.keep as string | undefined) ?? String(DEFAULT_KEEP);
  const fault = keepFault(keepText);
  if (fault) throw new ArgumentError(fault);
  const url = process.env.REDIS_URL;
  if (!url)
    throw new UsageError("REDIS_URL is not set — the backup reads the fleet's Redis through it");

  privateDir(dir);
  const name = freshSetName(new Date(), new Set(readSets(dir).map((s) => s.name)));
  const setDir = join(dir, name);
  mkdirSync(setDir, { mode: 0o700 });
  let manifest: Manifest;
  try {
    const source = await redisSource(url);
    const redis = await captureRedis(source, join(setDir, REDIS_FILE));
    const keys = await checkSnapshot(join(setDir, REDIS_FILE));
    const inventory = await bundleInventory(gitopsDir(config), join(setDir, INVENTORY_FILE));
    const files = await copyControlFiles(controlFilePaths(paths.users), setDir);
    manifest = {
      format: 1,
      name,
      createdAt: new Date().toISOString(),
      by: actor(),
      dropship: VERSION,
      redis: { from: `${source.host}:${source.port}`, keys, ...redis },
      ...(inventory && { inventory }),
      files,
    };
    // written last and whole: a set with a manifest is a finished one
    const temporary = join(setDir, `${MANIFEST}.new`);
    writeFileSync(temporary, `${JSON.stringify(manifest, null, 2)}\n`, { mode: 0o600 });
    renameSync(temporary, join(setDir, MANIFEST));
  } catch (error) {
    rmSync(setDir, { recursive: true, force: true });
    throw error;
  }

  console.log(`backup ${name} → ${setDir}`);
  console.log(
    `  Redis at ${manifest.redis.from}: ${manifest.redis.keys} keys, ${size(manifest.redis.bytes)}`,
  );
  console.log(
    manifest.inventory
      ? `  GitOps inventory at ${manifest.inventory.head.slice(0, 7)}: ${size(manifest.inventory.bytes)}`
      : `  no GitOps inventory at ${gitopsDir(config)} (no commit yet): none in this set`,
  );
  console.log(
    `  the control host's files: ${manifest.files?.map((f) => f.name).join(", ") || "none (no app.env or users file)"}`,
  );
  prune(dir, Number(keepText));
  const unaudited = await auditAction(
    { kind: "backup", target: name, what: `backup ${name} to ${setDir}` },
    [],
  );
  if (unaudited) console.log(unaudited);
});

function prune(dir: string, keep: number) {
  const sets = readSets(dir);
  const finished = sets.filter((s) => typeof s.manifest !== "string").map((s) => s.name);
  const abandoned = sets.filter(
    (s) => s.manifest === "unfinished" && Date.now() - statSync(s.dir).mtimeMs > ABANDONED_MS,
  );
  const old = setsToPrune(finished, keep);
  for (const name of old) rmSync(join(dir, name), { recursive: true, force: true });
  for (const set of abandoned) rmSync(set.dir, { recursive: true, force: true });
  if (old.length > 0)
    console.log(
      `  removed ${old.length} older set${old.length === 1 ? "" : "s"}: ${old.join(", ")} (--keep ${keep})`,
    );
  if (abandoned.length > 0)
    console.log(
      `  removed ${abandoned.length} unfinished set(s) a run left: ${abandoned.map((s) => s.name).join(", ")}`,
    );
}

function list(dir: string) {
  const sets = readSets(dir);
  if (sets.length === 0) return console.log(`no backup sets in ${dir} — bun run backup takes one`);
  const rows = [["SET", "TAKEN BY", "REDIS", "INVENTORY"]];
  for (const set of sets) {
    const m = set.manifest;
    if (typeof m === "string") rows.push([set.name, `(${m})`, "", ""]);
    else
      rows.push([
        set.name,
        m.by,
        `${m.redis.keys} keys, ${size(m.redis.bytes)}`,
        m.inventory ? `${m.inventory.head.slice(0, 7)}, ${size(m.inventory.bytes)}` : "none",
      ]);
  }
  printTable(rows);
  console.log(`in ${dir}; bun run restore SET puts one back`);
}

function size(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KiB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}
