import { dirname } from "node:path";
import { gitopsDir } from "../gitops/repo.ts";
import { DEFAULT_KEEP, describeBackup, keepFault, sizeText } from "../pipeline/backup.ts";
import {
  controlFilePaths,
  readSets,
  runAfter,
  takeBackup,
  verifySet,
} from "../pipeline/backup-sets.ts";
import { loadLocatedConfig } from "../server/shared/config/locate.ts";
import { localPaths } from "../server/shared/config/paths.ts";
import { auditAction } from "./lib/audit.ts";
import { ArgumentError, BACKUP_ENV, runVerb, UsageError, type VerbSpec } from "./lib/cli.ts";
import { actor } from "./lib/redis.ts";
import { printTable } from "./lib/table.ts";

const SPEC = {
  verb: "backup",
  usage: ["backup [--keep N]", "backup list", "backup verify [SET|latest]"],
  about: `Takes a backup set of the fleet's state into DROPSHIP_BACKUPS: Redis's own snapshot of
the primary (flags, the audit and deploy history, certificates, the app's data), fetched as a
replica fetches one, and the GitOps inventory's repository as a git bundle, with a manifest of
their sizes and digests. The folder and files are this user's only (they hold the certificates'
keys), and so do copies of the control host's app.env and users files. The newest N sets are
kept (default backup/keep, ${DEFAULT_KEEP}). The receiver takes one every backup/every when
backup/enabled; cron can too. bun run restore puts a set back. list shows the sets; verify
reads each (or one) as a restore would, changing nothing, and exits 1 if one is damaged.`,
  options: {
    keep: {
      type: "string",
      value: "N",
      description: `sets kept, newest first (default backup/keep: ${DEFAULT_KEEP})`,
    },
  },
  env: BACKUP_ENV,
  positionals: 2,
} satisfies VerbSpec;

await runVerb(SPEC, async ({ values, positionals: [verb, which] }) => {
  const { config, located } = loadLocatedConfig(() => {});
  const paths = localPaths(config, process.env);
  if (verb === "verify") return verify(paths.backups, which);
  if (which !== undefined) throw new ArgumentError(`unexpected ${which}`);
  if (verb === "list") return list(paths.backups);
  if (verb !== undefined)
    throw new ArgumentError(`unknown command ${verb} — use list, verify, or nothing`);
  const keepText = (values.keep as string | undefined) ?? String(config.backup.keep);
  const fault = keepFault(keepText);
  if (fault) throw new ArgumentError(fault);
  const url = process.env.REDIS_URL;
  if (!url)
    throw new UsageError("REDIS_URL is not set — the backup reads the fleet's Redis through it");
  const taken = await takeBackup({
    redisUrl: url,
    dir: paths.backups,
    gitopsRepo: gitopsDir(config),
    controlFiles: controlFilePaths(paths.users),
    repos: { root: paths.repos, names: config.pipeline.repos },
    keep: Number(keepText),
    by: actor(),
  });
  for (const line of describeBackup(taken, gitopsDir(config))) console.log(line);
  taken.after = await runAfter(
    {
      command: config.backup.after,
      timeoutMs: config.backup.after_timeout,
      cwd: located.file ? dirname(located.file) : process.cwd(),
      say: (line) => console.log(line),
    },
    taken,
    paths.backups,
  );
  const unaudited = await auditAction(
    {
      kind: "backup",
      target: taken.manifest.name,
      what: `backup ${taken.manifest.name} to ${taken.setDir}`,
    },
    [],
  );
  if (unaudited) console.log(unaudited);
  if (taken.after?.ok === false)
    throw new UsageError(
      `set ${taken.manifest.name} is kept in ${taken.setDir}, but ${taken.after.error} — fix backup/after (or where it copies to), then bun run backup again`,
    );
});

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
        `${m.redis.keys} keys, ${sizeText(m.redis.bytes)}`,
        m.inventory ? `${m.inventory.head.slice(0, 7)}, ${sizeText(m.inventory.bytes)}` : "none",
      ]);
  }
  printTable(rows);
  console.log(`in ${dir}; bun run restore SET puts one back`);
}

async function verify(dir: string, which: string | undefined) {
  const sets = readSets(dir);
  const finished = sets.filter((s) => typeof s.manifest !== "string");
  const chosen =
    which === undefined
      ? sets
      : which === "latest"
        ? finished.slice(-1)
        : sets.filter((s) => s.name === which);
  if (chosen.length === 0)
    throw new UsageError(
      which === undefined || which === "latest"
        ? `no backup sets in ${dir} — bun run backup takes one`
        : `no backup set ${which} in ${dir} — bun run backup list shows them`,
    );
  let damaged = 0;
  for (const set of chosen) {
    try {
      console.log(`${set.name}: ${await verifySet(set)}`);
    } catch (error) {
      damaged++;
      console.log(`${set.name}: DAMAGED — ${(error as Error).message}`);
    }
  }
  if (damaged > 0)
    throw new UsageError(
      `${damaged} of ${chosen.length} set(s) cannot be restored as they are — take a new backup, and restore from a set verify calls as written`,
    );
}
