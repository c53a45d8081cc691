import { type Flag, parseFlag } from "../server/shared/flags/model.ts";
import type { Mail } from "../server/shared/mailer.ts";
import { KEYS } from "../server/shared/state/keys.ts";
import { TLS_KEYS } from "../server/shared/state/tls.ts";

/**
 * Backups of the fleet's state (`bun run backup`, `bun run restore`): what a set holds, how
 * sets are named and kept, what a restore changes, when the next is due. Plain functions; the
 * copying is in pipeline/backup-sets.ts.
 *
 * A set is a folder named by its UTC time: `redis.rdb` (Redis's own snapshot, taken as a
 * replica takes one), `inventory.bundle` (the GitOps repository, every ref), the control host's
 * `app.env` and `users`, a `repo-NAME.bundle` per receiver repository and, written last,
 * `manifest.json`. A folder without a manifest is a backup that did not finish.
 */
export interface Manifest {
  format: 1;
  /** the set's name, its UTC time */
  name: string;
  createdAt: string;
  by: string;
  /** the dropship version that took it */
  dropship: string;
  redis: { from: string; bytes: number; sha256: string; keys: number };
  /** absent when there was no GitOps inventory to bundle */
  inventory?: { head: string; bytes: number; sha256: string };
  /** the control host's own files the set holds a copy of (those that existed) */
  files?: { name: ControlFile; bytes: number; sha256: string }[];
  /** the receiver's bare repositories (pipeline/repos), each a bundle `repo-NAME.bundle` */
  repos?: { name: string; bytes: number; sha256: string }[];
}

/** A repository's bundle in a set; names are the config's repository names (no path). */
export const repoBundle = (name: string) => `repo-${name}.bundle`;
const REPO_NAME = /^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/;

/**
 * The control host's files a set copies beside Redis's snapshot: the app's settings (`bun run
 * env`, kept nowhere else but on the app hosts) and the named users' token hashes (`bun run
 * users`). Neither is in Redis or the inventory, and both are lost with the control host's disk.
 */
export const CONTROL_FILES = ["app.env", "users"] as const;
export type ControlFile = (typeof CONTROL_FILES)[number];

export const MANIFEST = "manifest.json";
export const REDIS_FILE = "redis.rdb";
export const INVENTORY_FILE = "inventory.bundle";
export const DEFAULT_KEEP = 14;

/** A set's name for a moment: sortable, one per second, no character a shell or URL minds. */
export function setName(at: Date): string {
  return at
    .toISOString()
    .replace(/\.\d{3}Z$/, "Z")
    .replaceAll(":", "-");
}

const SET_NAME = /^\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}Z(-\d+)?$/;

export function isSetName(name: string): boolean {
  return SET_NAME.test(name);
}

/** The name for a new set, not one of `taken` (two backups in one second get -2, -3, …). */
export function freshSetName(at: Date, taken: ReadonlySet<string>): string {
  const base = setName(at);
  if (!taken.has(base)) return base;
  for (let n = 2; ; n++) if (!taken.has(`${base}-${n}`)) return `${base}-${n}`;
}

/** The sets to remove so that the newest `keep` finished ones stay; unfinished ones are left. */
export function setsToPrune(finished: readonly string[], keep: number): string[] {
  const newestFirst = [...finished].sort(compareSets).reverse();
  return newestFirst.slice(keep);
}

/** Oldest first; `…Z-2` after `…Z`. */
export function compareSets(a: string, b: string): number {
  const [baseA, nA] = splitName(a);
  const [baseB, nB] = splitName(b);
  return baseA < baseB ? -1 : baseA > baseB ? 1 : nA - nB;
}

function splitName(name: string): [string, number] {
  const at = name.indexOf("Z-");
  return at < 0 ? [name, 1] : [name.slice(0, at + 1), Number(name.slice(at + 2))];
}

/** What is wrong with `--keep`, or undefined. */
export function keepFault(text: string): string | undefined {
  const n = Number(text);
  return Number.isInteger(n) && n >= 1 && n <= 1000
    ? undefined
    : `--keep ${text} is not a number of sets from 1 to 1000`;
}

/** The manifest in a set's file, or a sentence saying what is wrong with it. */
export function parseManifest(text: string): Manifest | string {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return "it is not JSON";
  }
  const m = value as Partial<Manifest>;
  if (m?.format !== 1) return "it is not a format 1 manifest";
  const digest = (d: unknown) =>
    typeof d === "object" &&
    d !== null &&
    typeof (d as { sha256?: unknown }).sha256 === "string" &&
    /^[0-9a-f]{64}$/.test((d as { sha256: string }).sha256) &&
    Number.isInteger((d as { bytes?: unknown }).bytes);
  if (!digest(m.redis)) return "its redis entry has no size and sha256";
  if (m.inventory !== undefined && !digest(m.inventory))
    return "its inventory entry has no size and sha256";
  if (
    m.files !== undefined &&
    !(
      Array.isArray(m.files) &&
      m.files.every((f) => (CONTROL_FILES as readonly string[]).includes(f?.name) && digest(f))
    )
  )
    return "its files entry names a file a set does not hold, or one without size and sha256";
  if (
    m.repos !== undefined &&
    !(Array.isArray(m.repos) && m.repos.every((r) => REPO_NAME.test(String(r?.name)) && digest(r)))
  )
    return "its repos entry names a repository that is not a repository's name, or one without size and sha256";
  if (typeof m.name !== "string" || typeof m.createdAt !== "string") return "it has no name";
  return m as Manifest;
}

/**
 * The keys a restore puts back whole, from the snapshot, where the fleet has lost them — and
 * never over what the fleet has now. History only grows (the audit, deploys, scaling), and a
 * certificate renewed since the backup is newer than the one in it; but after losing Redis,
 * the history and the certificates (Let's Encrypt limits how often one may be issued again)
 * are worth having back.
 */
export const PUT_BACK_WHERE_ABSENT = [
  KEYS.audit,
  KEYS.deploys,
  KEYS.scaling,
  TLS_KEYS.certificates,
  TLS_KEYS.status,
  TLS_KEYS.account,
  TLS_KEYS.accountUrls,
] as const;

/** The app's own data: a restore makes it what the snapshot holds, as a database restore does. */
export const APP_PATTERN = "app:*";

/**
 * Left as they are by a restore: they describe the fleet now (the routing table, the canary,
 * alerts, maintenance, each host's figures, the request rates) and its servers write them.
 */
export const NOT_RESTORED = [
  KEYS.backends,
  KEYS.canary,
  KEYS.alerts,
  KEYS.maintenance,
  KEYS.traffic,
  KEYS.version,
] as const;

export interface FlagStep {
  name: string;
  /** undefined: the flag is removed (it was made after the backup) */
  to?: Pick<Flag, "enabled" | "rollout">;
  from?: Pick<Flag, "enabled" | "rollout">;
}

/**
 * The flag changes that make the fleet's flags the snapshot's: each one audited and pushed to
 * every server as any flag change is. Equal flags are left alone (their history stays as it is).
 */
export function flagSteps(
  snapshot: Record<string, string>,
  fleet: Record<string, string>,
): FlagStep[] {
  const read = (raw: Record<string, string>) =>
    new Map(
      Object.entries(raw).flatMap(([name, json]) => {
        const flag = parseFlag(json);
        return flag ? [[name, { enabled: flag.enabled, rollout: flag.rollout }] as const] : [];
      }),
    );
  const then = read(snapshot);
  const now = read(fleet);
  const steps: FlagStep[] = [];
  for (const [name, to] of then) {
    const from = now.get(name);
    if (!from || from.enabled !== to.enabled || from.rollout !== to.rollout)
      steps.push({ name, to, from });
  }
  for (const [name, from] of now) if (!then.has(name)) steps.push({ name, from });
  return steps.sort((a, b) => a.name.localeCompare(b.name));
}

export interface AppDataPlan {
  /** keys of the app's in the snapshot, written over whatever the fleet has under them */
  write: string[];
  /** keys the fleet has and the snapshot has not: made after the backup, removed */
  remove: string[];
}

export function appDataPlan(snapshot: readonly string[], fleet: readonly string[]): AppDataPlan {
  const then = new Set(snapshot);
  return {
    write: [...snapshot].sort(),
    remove: fleet.filter((key) => !then.has(key)).sort(),
  };
}

/** A set just taken, and what making room for it removed. */
export interface Backup {
  manifest: Manifest;
  setDir: string;
  /** older sets removed to keep `keep` */
  pruned: string[];
  /** unfinished sets a run that died left, removed */
  abandoned: string[];
  /** how backup/after went, when there is one: the set stays either way */
  after?: { ok: true } | { ok: false; error: string };
}

/** What a backup says it did, a line each. */
export function describeBackup(taken: Backup, gitopsRepo: string): string[] {
  const { manifest: m } = taken;
  return [
    `backup ${m.name} → ${taken.setDir}`,
    `  Redis at ${m.redis.from}: ${m.redis.keys} keys, ${sizeText(m.redis.bytes)}`,
    m.inventory
      ? `  GitOps inventory at ${m.inventory.head.slice(0, 7)}: ${sizeText(m.inventory.bytes)}`
      : `  no GitOps inventory at ${gitopsRepo} (no commit yet): none in this set`,
    `  the control host's files: ${m.files?.map((f) => f.name).join(", ") || "none (no app.env or users file)"}`,
    `  the receiver's repositories: ${m.repos?.map((r) => `${r.name} ${sizeText(r.bytes)}`).join(", ") || "none yet"}`,
    ...(taken.pruned.length > 0
      ? [
          `  removed ${taken.pruned.length} older set${taken.pruned.length === 1 ? "" : "s"}: ${taken.pruned.join(", ")}`,
        ]
      : []),
    ...(taken.abandoned.length > 0
      ? [`  removed unfinished set(s) a run left: ${taken.abandoned.join(", ")}`]
      : []),
  ];
}

export function sizeText(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KiB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}

/** After a scheduled backup failed, the next try comes this soon (or at `every`, if sooner). */
export const BACKUP_RETRY_MS = 15 * 60_000;

/**
 * When the receiver's next backup is due: `every` after the newest set (whoever took it, so a
 * restart or a backup by hand moves the schedule on), at once when there is none, and a retry
 * after a failure that came since.
 */
export function nextBackupAt(o: {
  lastSet?: number;
  lastFailure?: number;
  every: number;
  startedAt: number;
}): number {
  if (o.lastFailure !== undefined && (o.lastSet === undefined || o.lastFailure > o.lastSet))
    return o.lastFailure + Math.min(o.every, BACKUP_RETRY_MS);
  return o.lastSet === undefined ? o.startedAt : o.lastSet + o.every;
}

export type BackupOutcome = { ok: true; name: string } | { ok: false; error: string };

/**
 * One mail when scheduled backups start failing, one when they work again; nothing while they
 * keep doing what they did (as the monitor mails about a host).
 */
export function backupMail(
  failing: boolean,
  outcome: BackupOutcome,
  site: string,
): { failing: boolean; mail?: Mail } {
  if (!outcome.ok && !failing)
    return {
      failing: true,
      mail: {
        subject: `[${site}] backups are failing`,
        text: `The receiver's scheduled backup failed: ${outcome.error}\n\nA set that could not be taken is tried again within ${BACKUP_RETRY_MS / 60_000} minutes; when only backup/after failed, the set stays and the next backup runs it again. The sets taken before stay in DROPSHIP_BACKUPS; bun run backup takes one by hand and says the same fault.\n`,
      },
    };
  if (outcome.ok && failing)
    return {
      failing: false,
      mail: {
        subject: `[${site}] backups work again`,
        text: `The receiver's scheduled backup took ${outcome.name}.\n`,
      },
    };
  return { failing };
}

/** The status line about backups: the newest set and how old it is, or that there is none. */
export function describeBackups(o: {
  /** the newest finished set's time (ms), if any */
  newest?: number;
  count: number;
  dir: string;
  now: number;
  /** backup/every when backup/enabled: a set older than twice it is said to be late */
  every?: number;
}): string {
  if (o.newest === undefined || o.count === 0)
    return `none in ${o.dir} — bun run backup takes one${o.every === undefined ? "" : " (the receiver's schedule has taken none yet)"}`;
  const hours = (o.now - o.newest) / 3_600_000;
  const age =
    hours < 1
      ? `${Math.round(hours * 60)} min`
      : hours < 48
        ? `${Math.round(hours)} h`
        : `${Math.round(hours / 24)} days`;
  const late =
    o.every !== undefined && o.now - o.newest > 2 * o.every
      ? " — late for the receiver's schedule: see its log"
      : "";
  return `newest ${new Date(o.newest).toISOString()} (${age} ago), ${o.count} kept in ${o.dir}${late}`;
}
