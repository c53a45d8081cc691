import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import type { RoleName } from "./config/schema.ts";
import { currentBinary, hostCommands, isReleaseName, releaseDirOnHost } from "./host/layout.ts";
import { SOURCES_FILE } from "./platform.ts";
import { run } from "./proc.ts";
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

const sha256 = async (path: string) =>
  new Bun.CryptoHasher("sha256").update(await Bun.file(path).arrayBuffer()).digest("hex");

/**
 * Puts a release on a host over SSH: each binary skipped when the host already has it, else
 * sent as a zstd delta against the host's current binary when this machine still has that
 * one, else whole; then `current` is switched atomically, the services restarted, /healthz
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
  const scratch = mkdtempSync(join(tmpdir(), "dropship-delta-"));
  try {
    for (const local of release.binaries) {
      const name = basename(local);
      const want = await sha256(local);
      const remoteSum = async (path: string) =>
        (await ssh.exec(`sha256sum ${path} 2>/dev/null`)).stdout.split(" ")[0] ?? "";
      if ((await remoteSum(`${dir}/${name}`)) === want) {
        reports.push({ name, mode: "skip", bytesSent: 0 });
        continue;
      }
      const base = await remoteSum(currentBinary(name));
      const cached = join(options.cacheDir, `${base}.bin`);
      let report: FileReport;
      if (base && existsSync(cached)) {
        const delta = join(scratch, `${name}.zst`);
        run(["zstd", "-q", "-f", "--long=27", `--patch-from=${cached}`, local, "-o", delta]);
        await ssh.put(delta, `${dir}/${name}.zst`);
        await ssh.check(
          `zstd -q -f -d --long=27 --patch-from=${currentBinary(name)} ${dir}/${name}.zst -o ${dir}/${name}.part && rm ${dir}/${name}.zst`,
        );
        report = { name, mode: "delta", bytesSent: statSync(delta).size };
      } else {
        await ssh.put(local, `${dir}/${name}.part`);
        report = { name, mode: "full", bytesSent: statSync(local).size };
      }
      if ((await remoteSum(`${dir}/${name}.part`)) !== want) {
        await ssh.exec(`rm -f ${dir}/${name}.part`);
        throw new DeliveryError(
          `${host}: ${name} of ${release.version} arrived damaged (checksum differs); nothing was switched`,
        );
      }
      await ssh.check(`chmod 755 ${dir}/${name}.part && mv -f ${dir}/${name}.part ${dir}/${name}`);
      copyFileSync(local, join(options.cacheDir, `${want}.bin`));
      log(`${host}: ${name} ${report.mode} (${(report.bytesSent / 1024).toFixed(0)} KiB sent)`);
      reports.push(report);
    }
    return reports;
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
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
    );
  await ssh.check(hostCommands.prune(options.keep ?? 3));
}

/** Healthy answers in a row before a host counts as up: one good answer can be a process on its way out. */
const SETTLED = 3;

export async function waitForVersion(
  host: string,
  url: string,
  version: string,
  timeoutMs: number,
) {
  const deadline = Date.now() + timeoutMs;
  let last = "no answer";
  let good = 0;
  while (Date.now() < deadline) {
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
