import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { appSettingsFile } from "../server/shared/config/env-file.ts";
import { fileSha256 } from "../server/shared/file-digest.ts";
import { runAsync } from "../server/shared/proc.ts";
import { redact } from "../server/shared/secrets.ts";
import { connectRedis, type RedisClient, whenReady } from "../server/shared/state/redis.ts";
import { findPrimary } from "../server/shared/state/sentinel.ts";
import { isSentinelUrl, parseSentinelUrl } from "../server/shared/state/sentinel-url.ts";
import { connectSnapshot } from "../server/shared/state/snapshot.ts";
import { VERSION } from "../server/shared/version.ts";
import {
  type Backup,
  CONTROL_FILES,
  type ControlFile,
  compareSets,
  freshSetName,
  INVENTORY_FILE,
  isSetName,
  MANIFEST,
  type Manifest,
  parseManifest,
  REDIS_FILE,
  repoBundle,
  setsToPrune,
} from "./backup.ts";
import { runCommand, shellEnvironment } from "./hooks.ts";
import { repoPath } from "./repos.ts";

/** The longest a snapshot may take to arrive before it is given up. */
export const CAPTURE_TIMEOUT_MS = 10 * 60_000;

/** An unfinished set older than this was left by a run that died; no run takes half as long. */
const ABANDONED_MS = 2 * CAPTURE_TIMEOUT_MS + 60_000;

export interface BackupOptions {
  redisUrl: string;
  /** DROPSHIP_BACKUPS */
  dir: string;
  gitopsRepo: string;
  controlFiles: Record<ControlFile, string>;
  /** the receiver's bare repositories: DROPSHIP_REPOS and pipeline/repos */
  repos: { root: string; names: string[] };
  keep: number;
  by: string;
}

/** backup/after: a command of the team's own that copies a set off the machine. */
export interface BackupAfter {
  command: string;
  timeoutMs: number;
  cwd: string;
  say: (line: string) => void;
}

/**
 * Takes a set: Redis's snapshot, the inventory's bundle, the control host's files, then the
 * manifest, written last and whole; a failure leaves no set. Then the oldest sets past `keep`
 * are removed.
 */
export async function takeBackup(o: BackupOptions): Promise<Backup> {
  privateDir(o.dir);
  const name = freshSetName(new Date(), new Set(readSets(o.dir).map((s) => s.name)));
  const setDir = join(o.dir, name);
  mkdirSync(setDir, { mode: 0o700 });
  let manifest: Manifest;
  try {
    const source = await redisSource(o.redisUrl);
    const redis = await captureRedis(source, join(setDir, REDIS_FILE));
    const keys = await checkSnapshot(join(setDir, REDIS_FILE));
    const inventory = await bundleInventory(o.gitopsRepo, join(setDir, INVENTORY_FILE));
    const files = await copyControlFiles(o.controlFiles, setDir);
    const repos = await bundleRepos(o.repos, setDir);
    manifest = {
      format: 1,
      name,
      createdAt: new Date().toISOString(),
      by: o.by,
      dropship: VERSION,
      redis: { from: `${source.host}:${source.port}`, keys, ...redis },
      ...(inventory && { inventory }),
      files,
      repos,
    };
    const temporary = join(setDir, `${MANIFEST}.new`);
    writeFileSync(temporary, `${JSON.stringify(manifest, null, 2)}\n`, { mode: 0o600 });
    renameSync(temporary, join(setDir, MANIFEST));
  } catch (error) {
    rmSync(setDir, { recursive: true, force: true });
    throw error;
  }
  const sets = readSets(o.dir);
  const finished = sets.filter((s) => typeof s.manifest !== "string").map((s) => s.name);
  const pruned = setsToPrune(finished, o.keep);
  const abandoned = sets
    .filter(
      (s) => s.manifest === "unfinished" && Date.now() - statSync(s.dir).mtimeMs > ABANDONED_MS,
    )
    .map((s) => s.name);
  for (const old of [...pruned, ...abandoned])
    rmSync(join(o.dir, old), { recursive: true, force: true });
  return { manifest, setDir, pruned, abandoned };
}

/**
 * Runs backup/after on a set just taken, told which and where; answers how it went (a
 * failure is answered, not thrown: the set stays), or nothing when there is no command.
 */
export async function runAfter(
  after: BackupAfter | undefined,
  taken: Backup,
  dir: string,
): Promise<Backup["after"]> {
  if (!after?.command) return undefined;
  try {
    await runCommand(
      "backup/after",
      after.command,
      {
        ...shellEnvironment(process.env),
        DROPSHIP_BACKUP_SET: taken.manifest.name,
        DROPSHIP_BACKUP_DIR: taken.setDir,
        DROPSHIP_BACKUPS: dir,
      },
      { ...after, timeoutSetting: "backup/after_timeout" },
    );
    return { ok: true };
  } catch (error) {
    return { ok: false, error: (error as Error).message };
  }
}

/** When each finished set was taken (ms). */
export function finishedTimes(dir: string): number[] {
  return readSets(dir).flatMap((s) =>
    typeof s.manifest === "string" ? [] : [Date.parse(s.manifest.createdAt)],
  );
}

/** When the newest finished set was taken (ms), if there is one. */
export function lastBackupAt(dir: string): number | undefined {
  const times = finishedTimes(dir);
  return times.length > 0 ? Math.max(...times) : undefined;
}

/** Where the fleet's Redis primary is now, and who to be there. Never printed whole. */
export interface RedisSource {
  host: string;
  port: number;
  user: string;
  password: string;
  db: number;
}

/** The primary behind REDIS_URL: the URL's host, or the one its Sentinels name now. */
export async function redisSource(url: string): Promise<RedisSource> {
  if (isSentinelUrl(url)) {
    const target = parseSentinelUrl(url);
    const primary = await findPrimary(target).catch((error: Error) => {
      throw new Error(`cannot find the Redis primary to back up: ${error.message}`);
    });
    return { ...primary, user: target.username, password: target.password, db: target.db };
  }
  const parsed = new URL(url);
  if (parsed.protocol !== "redis:")
    throw new Error(
      `REDIS_URL is a ${parsed.protocol}// URL; a backup reads redis:// or redis-sentinel:// ones`,
    );
  return {
    host: parsed.hostname.replace(/^\[|\]$/g, ""),
    port: Number(parsed.port || 6379),
    user: decodeURIComponent(parsed.username),
    password: decodeURIComponent(parsed.password),
    db: Number(parsed.pathname.slice(1) || 0),
  };
}

/**
 * Redis's own snapshot of the primary, fetched as a replica fetches its first copy (redis-cli
 * --rdb: SYNC; the server forks and streams it, no file is left on the Redis host). The
 * password goes to redis-cli in its environment, never on a command line another user can read.
 */
export async function captureRedis(
  source: RedisSource,
  file: string,
): Promise<{ bytes: number; sha256: string }> {
  await reachable(source);
  const argv = ["redis-cli", "-h", source.host, "-p", String(source.port)];
  if (source.user) argv.push("--user", source.user);
  argv.push("--rdb", file);
  const proc = Bun.spawn(argv, {
    env: {
      PATH: process.env.PATH ?? "",
      ...(source.password && { REDISCLI_AUTH: source.password }),
    },
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
    timeout: CAPTURE_TIMEOUT_MS,
    killSignal: "SIGKILL",
  });
  const [out, err, code] = await Promise.all([
    new Response(proc.stdout).text(),
    new Response(proc.stderr).text(),
    proc.exited,
  ]);
  const said = (out + err).trim().split("\n").slice(-2).join(" / ");
  if (proc.signalCode === "SIGKILL")
    throw new Error(
      `the Redis snapshot from ${source.host}:${source.port} did not arrive within ${CAPTURE_TIMEOUT_MS / 60_000} min; nothing was kept`,
    );
  if (code !== 0 || !/Transfer finished with success/.test(said))
    throw new Error(
      `redis-cli --rdb from ${source.host}:${source.port} failed (exit ${code}): ${redact(said)}`,
    );
  chmodSync(file, 0o600);
  return { bytes: statSync(file).size, sha256: await fileSha256(file) };
}

/** Says why the primary cannot be read (unreachable, a wrong password) before redis-cli tries. */
async function reachable(source: RedisSource): Promise<void> {
  const url = new URL(`redis://${source.host.includes(":") ? `[${source.host}]` : source.host}`);
  url.port = String(source.port);
  url.username = source.user;
  url.password = source.password;
  const client = connectRedis(url.toString(), { purpose: "backup", persistent: false });
  try {
    await whenReady(client, url.toString(), 5000);
    await client.ping();
  } catch (error) {
    throw new Error(redact((error as Error).message));
  } finally {
    client.disconnect();
  }
}

/** The number of keys in a snapshot, as Redis's own checker reads it; throws if it is damaged. */
export async function checkSnapshot(file: string): Promise<number> {
  const { code, stdout, stderr } = await runAsync(["redis-check-rdb", file]);
  const keys = /(\d+) keys read/.exec(stdout);
  if (code !== 0 || !keys || !/RDB looks OK/.test(stdout))
    throw new Error(
      `${file} is not a whole Redis snapshot (redis-check-rdb: ${(stdout + stderr).trim().split("\n").slice(-2).join(" / ")})`,
    );
  return Number(keys[1]);
}

/** Every ref of the GitOps repository in one file, or undefined where there is none. */
export const bundleInventory = bundleGit;

/** Every ref of a repository (a work tree's or a bare one) in one file; undefined with no commit. */
async function bundleGit(
  repo: string,
  file: string,
): Promise<{ head: string; bytes: number; sha256: string } | undefined> {
  if (!existsSync(join(repo, ".git")) && !existsSync(join(repo, "HEAD"))) return undefined;
  // a bare repository's HEAD may name a branch with no commit (nothing pushed to master yet)
  const refs = await runAsync(["git", "-C", repo, "for-each-ref", "--count=1", "refs/heads"]);
  if (refs.code !== 0 || refs.stdout.trim() === "") return undefined;
  const head = await runAsync(["git", "-C", repo, "rev-parse", "--verify", "--quiet", "HEAD"]);
  const made = await runAsync(["git", "-C", repo, "bundle", "create", "--quiet", file, "--all"]);
  if (made.code !== 0) throw new Error(`git bundle of ${repo} failed: ${made.stderr.trim()}`);
  chmodSync(file, 0o600);
  return { head: head.stdout.trim(), bytes: statSync(file).size, sha256: await fileSha256(file) };
}

/** Each of the receiver's repositories that has a commit, bundled with every ref. */
async function bundleRepos(
  repos: BackupOptions["repos"],
  setDir: string,
): Promise<NonNullable<Manifest["repos"]>> {
  const entries: NonNullable<Manifest["repos"]> = [];
  for (const name of repos.names) {
    const bundled = await bundleGit(repoPath(repos.root, name), join(setDir, repoBundle(name)));
    if (bundled) entries.push({ name, bytes: bundled.bytes, sha256: bundled.sha256 });
  }
  return entries;
}

/** Where each of the control host's files a set copies lives on this machine. */
export function controlFilePaths(users: string): Record<ControlFile, string> {
  return { "app.env": appSettingsFile(), users };
}

/** Copies those that exist into the set, private; answers their entries for the manifest. */
export async function copyControlFiles(
  paths: Record<ControlFile, string>,
  setDir: string,
): Promise<NonNullable<Manifest["files"]>> {
  const entries: NonNullable<Manifest["files"]> = [];
  for (const name of CONTROL_FILES) {
    if (!existsSync(paths[name])) continue;
    const copy = join(setDir, name);
    copyFileSync(paths[name], copy);
    chmodSync(copy, 0o600);
    entries.push({ name, bytes: statSync(copy).size, sha256: await fileSha256(copy) });
  }
  return entries;
}

/** A folder only this user may enter. */
export function privateDir(path: string): void {
  mkdirSync(path, { recursive: true, mode: 0o700 });
  chmodSync(path, 0o700);
}

export interface SetEntry {
  name: string;
  dir: string;
  /** the manifest, or what is wrong with the set */
  manifest: Manifest | string;
}

/** The sets in the backups folder, oldest first; a folder without a manifest is unfinished. */
export function readSets(dir: string): SetEntry[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter(isSetName)
    .sort(compareSets)
    .map((name) => {
      const path = join(dir, name, MANIFEST);
      if (!existsSync(path)) return { name, dir: join(dir, name), manifest: "unfinished" };
      const manifest = parseManifest(readFileSync(path, "utf8"));
      return {
        name,
        dir: join(dir, name),
        manifest: typeof manifest === "string" ? `${MANIFEST}: ${manifest}` : manifest,
      };
    });
}

/** Checks a file of a set against its manifest's size and digest. */
export async function verifyFile(
  path: string,
  expected: { bytes: number; sha256: string },
): Promise<void> {
  if (!existsSync(path)) throw new Error(`${path} is missing`);
  const bytes = statSync(path).size;
  if (bytes !== expected.bytes || (await fileSha256(path)) !== expected.sha256)
    throw new Error(
      `${path} is not the file the backup wrote (${bytes} bytes; the manifest says ${expected.bytes} and another digest) — take the restore from another set`,
    );
}

/**
 * Checks a set as a restore would read it, changing nothing: each file against the manifest,
 * the snapshot loaded by a redis-server of its own (which checks the file's own checksum), the
 * bundle naming the commit the manifest does. Answers what was found; throws the first fault.
 */
export async function verifySet(set: SetEntry): Promise<string> {
  const m = set.manifest;
  if (typeof m === "string") throw new Error(m);
  await verifyFile(join(set.dir, REDIS_FILE), m.redis);
  if (m.inventory) await verifyFile(join(set.dir, INVENTORY_FILE), m.inventory);
  for (const file of m.files ?? []) await verifyFile(join(set.dir, file.name), file);
  for (const repo of m.repos ?? []) await verifyFile(join(set.dir, repoBundle(repo.name)), repo);
  const snapshot = await openSnapshot(join(set.dir, REDIS_FILE), 0);
  let keys: number;
  try {
    const info = String(await snapshot.redis.info("keyspace"));
    keys = [...info.matchAll(/^db\d+:keys=(\d+)/gm)].reduce((n, k) => n + Number(k[1]), 0);
  } finally {
    await snapshot.close();
  }
  let inventory = "no inventory";
  if (m.inventory) {
    const refs = await runAsync(["git", "ls-remote", join(set.dir, INVENTORY_FILE), "HEAD"]);
    if (refs.code !== 0 || !refs.stdout.startsWith(m.inventory.head))
      throw new Error(
        `its inventory bundle does not name ${m.inventory.head.slice(0, 7)} as HEAD (${(refs.stdout + refs.stderr).trim() || "nothing"})`,
      );
    inventory = `the inventory at ${m.inventory.head.slice(0, 7)}`;
  }
  const files = [
    ...(m.files ?? []).map((f) => f.name),
    ...(m.repos ?? []).map((r) => `${r.name}.git`),
  ];
  const also = files.length ? `, ${files.join(", ")}` : "";
  // keys whose time to live ran out since are not loaded; Redis checks the file's own checksum
  const expired = m.redis.keys > keys ? ` (of ${m.redis.keys}; the rest have expired since)` : "";
  return `${keys} keys load${expired}, ${inventory}${also}: as written`;
}

export interface OpenSnapshot {
  redis: RedisClient;
  close(): Promise<void>;
}

/**
 * A snapshot loaded into a redis-server of its own: no port, a Unix socket in a folder only
 * this user may enter, nothing saved. It reads the file as Redis reads its own at start.
 */
export async function openSnapshot(file: string, db: number): Promise<OpenSnapshot> {
  const dir = mkdtempSync(join(tmpdir(), "dropship-restore-"));
  chmodSync(dir, 0o700);
  copyFileSync(file, join(dir, "dump.rdb"));
  const socket = join(dir, "redis.sock");
  const proc = Bun.spawn(
    [
      "redis-server",
      "--port",
      "0",
      "--unixsocket",
      socket,
      "--unixsocketperm",
      "700",
      "--dir",
      dir,
      "--dbfilename",
      "dump.rdb",
      "--appendonly",
      "no",
      "--save",
      "",
      "--daemonize",
      "no",
      "--logfile",
      "",
    ],
    // it logs to stdout (--logfile ""), which is read
    { stdin: "ignore", stdout: "pipe", stderr: "ignore" },
  );
  const close = async () => {
    proc.kill("SIGKILL");
    await proc.exited;
    rmSync(dir, { recursive: true, force: true });
  };
  const log = await readUntil(proc.stdout, READY);
  if (!/ready to accept connections/i.test(log)) {
    await close();
    const why = log
      .split("\n")
      .filter((line) => / # /.test(line) && !/overcommit/.test(line))
      .slice(-2)
      .join(" / ");
    throw new Error(`redis-server could not load ${file}: ${why || "it exited"}`);
  }
  const redis = connectSnapshot(socket, db);
  return {
    redis,
    close: async () => {
      redis.disconnect();
      await close();
    },
  };
}

// "Ready to accept connections tcp" on a port; "… ready to accept connections at SOCKET" on a socket only
const READY = /ready to accept connections|Unrecoverable|Fatal/i;

/**
 * What a child printed up to the first line matching `until`, or all of it if it ends first.
 * The rest is read and dropped, so a full pipe never stops the child.
 */
async function readUntil(stream: ReadableStream<Uint8Array>, until: RegExp): Promise<string> {
  let text = "";
  const decoder = new TextDecoder();
  const reader = stream.getReader();
  const deadline = setTimeout(() => reader.cancel(), 30_000);
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return text;
      text += decoder.decode(value, { stream: true });
      if (until.test(text)) {
        void drain(reader);
        return text;
      }
    }
  } finally {
    clearTimeout(deadline);
  }
}

async function drain(reader: { read(): Promise<{ done: boolean }> }): Promise<void> {
  try {
    while (!(await reader.read()).done);
  } catch {
    // the child is gone
  }
}
