import { copyFileSync, existsSync, mkdirSync, statSync } from "node:fs";
import { basename, join } from "node:path";
import type { RoleName } from "./config/schema.ts";
import { knownSha256 } from "./file-digest.ts";
import {
  currentBinary,
  HOST_RELEASES_KEPT,
  hostCommands,
  isReleaseName,
  releaseDirOnHost,
} from "./host/layout.ts";
import { startFailure } from "./host/start-failure.ts";
import { type PackBase, packed, unpackCommand } from "./packing.ts";
import { SOURCES_FILE } from "./platform.ts";
import { binaryOf, ROLES } from "./roles.ts";
import type { Ssh } from "./ssh.ts";

export interface Release {
  /** the commit (or name) the release is stored under: releases/<version>/ */
  version: string;
  /** local paths of the binaries, named dropship-<service> */
  binaries: string[];
}

export interface DeliveryOptions {
  /** local content-addressed copies of what was delivered before, the bases for deltas */
  cacheDir: string;
  /** services to restart once `current` points at the release */
  restart: string[];
  /** services to hand over instead: the next process listens before the last one stops */
  handover?: string[];
  /** a URL on the host whose JSON `version` must become the release's */
  healthUrl?: string;
  healthTimeoutMs?: number;
  /** releases kept on the host for rollback, the current one included */
  keep?: number;
  log?: (line: string) => void;
}

export interface FileReport {
  name: string;
  mode: "skip" | "delta" | "full";
  bytesSent: number;
}

export class DeliveryError extends Error {
  override name = "DeliveryError";
}

/** A role's files in a local release folder: its services' binaries and the SOURCES beside them. */
export function releaseFiles(dir: string, role: RoleName): string[] {
  return [...ROLES[role].services.map(binaryOf), SOURCES_FILE]
    .map((name) => join(dir, name))
    .filter(existsSync);
}

/** A delta's base on the host; `recorded`: its digest is the host's record, not read from it. */
type Base = PackBase & { remote: string; recorded?: boolean };

const SHA256_HEX = /^[0-9a-f]{64}$/;

/** Smaller files (SOURCES) go as they are: packing them saves nothing worth a round trip. */
const PACK_FROM = 1024 * 1024;

/**
 * Puts a release on a host over SSH: each binary skipped when the host already has it, else
 * sent as a delta (server/shared/packing.ts) against the host's current binary when this
 * machine still has that one, else against a binary of this release already there (they share
 * the Bun runtime), else
 * whole, packed with zstd; then `current` is switched atomically, the services restarted, /healthz
 * read back, and old releases pruned. The release a host already runs is only health-checked.
 */
export async function deliverRelease(
  ssh: Ssh,
  release: Release,
  options: DeliveryOptions,
): Promise<FileReport[]> {
  const before = await runningRelease(ssh);
  const reports = await stageRelease(ssh, release, options);
  // the same release again (a re-run): nothing to switch, and no restart to cost requests
  const unchanged = before === release.version && reports.every((r) => r.mode === "skip");
  await switchRelease(ssh, release.version, options, unchanged);
  return reports;
}

/** The release `current` points at on the host ("" when none). */
export async function runningRelease(ssh: Ssh): Promise<string> {
  return (await ssh.exec(hostCommands.currentRelease())).stdout.trim();
}

/**
 * The first half of a delivery: the release's binaries put in releases/<version> on the host
 * (each checked by its SHA-256) without touching what runs. A new host's can go while the
 * playbook converges it: nothing starts a release that `current` does not point at.
 */
export async function stageRelease(
  ssh: Ssh,
  release: Release,
  options: Pick<DeliveryOptions, "cacheDir" | "log">,
): Promise<FileReport[]> {
  const log = options.log ?? (() => {});
  const host = ssh.target.host;
  if (!isReleaseName(release.version))
    throw new DeliveryError(`release name ${JSON.stringify(release.version)} is not valid`);
  mkdirSync(options.cacheDir, { recursive: true });
  const dir = releaseDirOnHost(release.version);
  await ssh.check(`mkdir -p ${dir}`);
  const reports: FileReport[] = [];
  /** the digest a host command prints first ("" when none) */
  const digestBy = async (command: string) =>
    (await ssh.exec(command)).stdout.trim().split(/\s/)[0] ?? "";
  const remoteSum = (path: string) => digestBy(hostCommands.sha256(path));
  /** this release's binaries already on the host: a base for the next one's delta */
  const onHost: Base[] = [];
  /**
   * The host's current binary of that name if this machine still has it, else a sibling. Its
   * digest is the one recorded beside it when it was delivered (hashing 100 MB on the host
   * cost ~0.3 s a binary), or with `hashed` (the record proved wrong) read from the file.
   */
  const baseFor = async (name: string, hashed = false): Promise<Base | undefined> => {
    const remote = currentBinary(name);
    const current = await digestBy(
      hashed ? hostCommands.sha256(remote) : hostCommands.recordedDigest(remote),
    );
    // what the host says names a file here: a digest, or nothing
    const cached = join(options.cacheDir, `${current}.bin`);
    if (current && SHA256_HEX.test(current) && existsSync(cached))
      return { path: cached, sha: current, remote, recorded: !hashed };
    return onHost[0];
  };
  /** sends a pack of `local` against `base` and unpacks it to `part`: the unpacked digest */
  const sendPacked = async (local: string, want: string, target: string, base?: Base) => {
    const pack = await packed(options.cacheDir, local, want, base);
    await ssh.put(pack.file, `${target}.zst`);
    await ssh.check(unpackCommand(`${target}.zst`, `${target}.part`, base?.remote, pack.runs));
    return { bytesSent: statSync(pack.file).size, digest: await remoteSum(`${target}.part`) };
  };
  for (const local of release.binaries) {
    const name = basename(local);
    // read once for every host a release goes to, and not again after the gate recorded it
    const want = await knownSha256(local);
    const target = `${dir}/${name}`;
    const big = statSync(local).size >= PACK_FROM;
    if ((await remoteSum(target)) === want) {
      reports.push({ name, mode: "skip", bytesSent: 0 });
      if (big) onHost.push({ path: local, sha: want, remote: target });
      continue;
    }
    let report: FileReport;
    let digest: string;
    if (!big) {
      await ssh.put(local, `${target}.part`);
      report = { name, mode: "full", bytesSent: statSync(local).size };
      digest = await remoteSum(`${target}.part`);
    } else {
      let base = await baseFor(name);
      let sent: { bytesSent: number; digest: string } | undefined;
      try {
        sent = await sendPacked(local, want, target, base);
      } catch (error) {
        if (!base?.recorded) throw error;
      }
      if (!sent || (base?.recorded && sent.digest !== want)) {
        // the host's binary is not what its record says (changed by hand?): hash it, send again
        log(
          `${host}: ${name}: the host's current one is not what its record says; hashed it, sending again`,
        );
        base = await baseFor(name, true);
        sent = await sendPacked(local, want, target, base);
      }
      report = { name, mode: base ? "delta" : "full", bytesSent: sent.bytesSent };
      digest = sent.digest;
    }
    if (digest !== want) {
      await ssh.exec(`rm -f ${target}.part`);
      throw new DeliveryError(
        `${host}: ${name} of ${release.version} arrived damaged (checksum differs); nothing was switched`,
      );
    }
    await ssh.check(hostCommands.placeBinary(target, want));
    copyFileSync(local, join(options.cacheDir, `${want}.bin`));
    if (big) onHost.push({ path: local, sha: want, remote: target });
    log(`${host}: ${name} ${report.mode} (${(report.bytesSent / 1024).toFixed(0)} KiB sent)`);
    reports.push(report);
  }
  return reports;
}

/**
 * The second half: `current` pointed at a staged release, its services restarted (or handed
 * over), /healthz read back until it reports the release, and old releases pruned.
 * `unchanged` (the host already runs it, nothing new was sent) only checks health.
 */
export async function switchRelease(
  ssh: Ssh,
  version: string,
  options: DeliveryOptions,
  unchanged = false,
): Promise<void> {
  if (!unchanged) {
    await ssh.check(hostCommands.switchTo(version));
    for (const service of options.restart) {
      await ssh.check(hostCommands.service("restart", service));
    }
    for (const service of options.handover ?? []) {
      await ssh.check(hostCommands.service("handover", service));
    }
  }
  if (options.healthUrl)
    await waitForVersion(
      ssh.target.host,
      options.healthUrl,
      version,
      options.healthTimeoutMs ?? 30_000,
      unchanged ? undefined : exitingOf(ssh, options.restart),
    );
  await ssh.check(hostCommands.prune(options.keep ?? HOST_RELEASES_KEPT));
}

/** For waitForVersion: why one of `services`, just restarted on the host, cannot be running. */
export function exitingOf(ssh: Ssh, services: string[]): () => Promise<string | undefined> {
  return async () => {
    for (const service of services) {
      const reason = startFailure(
        service,
        (await ssh.exec(hostCommands.startState(service))).stdout,
      );
      if (reason) return reason;
    }
    return undefined;
  };
}

/** Healthy answers in a row before a host counts as up: one good answer can be a process on its way out. */
const SETTLED = 3;

/** How often a health wait asks the host whether a restarted service keeps exiting. */
const EXITING_EVERY_MS = 1000;

/**
 * Waits until `url` reports `version` SETTLED times in a row. `exiting` (see `exitingOf`) ends
 * the wait at once when a restarted service cannot start, naming what it said: a release that
 * exits at start fails in seconds, not after the whole health timeout.
 */
export async function waitForVersion(
  host: string,
  url: string,
  version: string,
  timeoutMs: number,
  exiting?: () => Promise<string | undefined>,
) {
  const deadline = Date.now() + timeoutMs;
  let last = "no answer";
  let good = 0;
  let askedAt = Date.now();
  while (Date.now() < deadline) {
    if (exiting && Date.now() - askedAt >= EXITING_EVERY_MS) {
      askedAt = Date.now();
      // a host that does not answer this is left to the health check's own verdict
      const reason = await exiting().catch(() => undefined);
      if (reason) throw new DeliveryError(`${host}: ${reason}`);
    }
    try {
      const response = await fetch(url, { signal: AbortSignal.timeout(2000) });
      const body = (await response.json()) as { version?: string };
      if (response.ok && body.version === version) {
        if (++good >= SETTLED) return;
      } else {
        good = 0;
        last = `HTTP ${response.status}, version ${body.version}`;
      }
    } catch (error) {
      good = 0;
      last = (error as Error).message;
    }
    await Bun.sleep(100);
  }
  throw new DeliveryError(
    `${host}: ${url} did not report ${version} within ${timeoutMs} ms (last: ${last})`,
  );
}
