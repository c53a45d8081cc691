import { expect, test } from "bun:test";
import { mkdirSync, readFileSync, readlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import {
  HOST_ROOT,
  hostCommands,
  isReleaseName,
  releaseVersion,
} from "../../../../server/shared/host/layout.ts";
import { repointSentinelsIn } from "../../../../server/shared/state/sentinel-fleet.ts";
import { tempDir } from "../../../helpers/tmp.ts";

/** Runs a layout command against a folder standing in for HOST_ROOT. */
function onHost(root: string, command: string): string {
  const result = Bun.spawnSync(["sh", "-c", command.replaceAll(HOST_ROOT, root)], {
    stderr: "pipe",
  });
  if (result.exitCode !== 0)
    throw new Error(`${command} failed (${result.exitCode}): ${result.stderr.toString()}`);
  return result.stdout.toString();
}

test("a release is named by its commit's first 12 characters, and only safe names pass", () => {
  expect(releaseVersion("0123456789abcdef0123456789abcdef01234567")).toBe("0123456789ab");
  expect(isReleaseName("0123456789ab")).toBe(true);
  expect(isReleaseName("v1.2-rc")).toBe(true);
  expect(isReleaseName("a b")).toBe(false);
  expect(isReleaseName("../etc")).toBe(false);
  expect(isReleaseName("x;rm -rf /")).toBe(false);
});

test("switching, recording, listing, dropping and pruning releases work on a real tree", async () => {
  const root = tempDir("dropship-layout-");
  for (const version of ["r1", "r2", "r3", "r4"]) {
    mkdirSync(join(root, "releases", version), { recursive: true });
    await Bun.sleep(15); // ls -t orders by modification time
  }
  expect(onHost(root, hostCommands.currentRelease())).toBe("\n");
  onHost(root, hostCommands.switchTo("r2"));
  expect(readlinkSync(join(root, "current"))).toBe("releases/r2");
  expect(onHost(root, hostCommands.currentRelease())).toBe("r2\n");
  onHost(root, hostCommands.recordDeployed("r1"));
  onHost(root, hostCommands.recordDeployed("r2"));
  expect(onHost(root, hostCommands.listDeployed())).toBe("r1\nr2\n");
  expect(onHost(root, hostCommands.listReleases())).toBe("r4\nr3\nr2\nr1\n");
  expect(() => onHost(root, hostCommands.switchToExisting("r9"))).toThrow();
  onHost(root, hostCommands.dropReleaseUnlessCurrent("r2"));
  onHost(root, hostCommands.dropReleaseUnlessCurrent("r4"));
  expect(onHost(root, hostCommands.listReleases())).toBe("r3\nr2\nr1\n");
  onHost(root, hostCommands.prune(2));
  expect(onHost(root, hostCommands.listReleases()).split("\n").filter(Boolean).sort()).toEqual([
    "r2",
    "r3",
  ]);
  writeFileSync(join(root, "releases/r2/SOURCES"), "abc  dropship-app\n");
  expect(onHost(root, hostCommands.readSources())).toBe("abc  dropship-app\n");
  expect(readFileSync(join(root, "deployed"), "utf8")).toBe("r1\nr2\n");
});

test("services and logs go through systemd where it runs, else dropship-service and the log file", () => {
  expect(hostCommands.service("handover", "proxy")).toBe(
    "if [ -d /run/systemd/system ]; then if [ -x /srv/dropship/bin/dropship-handover ]; then /srv/dropship/bin/dropship-handover proxy; else systemctl reset-failed dropship-proxy 2>/dev/null; systemctl restart dropship-proxy; fi; else /srv/dropship/bin/dropship-service handover proxy; fi",
  );
  expect(hostCommands.service("restart", "app")).toBe(
    "if [ -d /run/systemd/system ]; then systemctl reset-failed dropship-app 2>/dev/null; systemctl restart dropship-app; else /srv/dropship/bin/dropship-service restart app; fi",
  );
  expect(hostCommands.log("app", { lines: 100, follow: false })).toBe(
    "if [ -d /run/systemd/system ]; then journalctl -u dropship-app -o cat --no-pager -n 100; else tail -n 100 /srv/dropship/logs/app.log; fi",
  );
  expect(hostCommands.log("proxy", { lines: 0, follow: true })).toContain(
    "tail -n 0 -F /srv/dropship/logs/proxy.log",
  );
});

test("every service's Redis URL is told the live Sentinels, the way the control machine's file is", () => {
  const root = tempDir("dropship-layout-");
  mkdirSync(join(root, "shared"));
  const old = "10.78.0.2%3A26379%2C10.78.0.3%3A26379";
  const param = "10.78.0.12%3A26379%2C10.78.0.14%3A26379";
  // as Ansible's env.j2 writes them: quoted where the value has shell characters
  const monitor = [
    "# Written by Ansible (dropship_service); settings for dropship-monitor.",
    "PORT=9100",
    `REDIS_URL='redis-sentinel://monitor-web-1:p%2Fw@dropship/0?sentinels=${old}&sentinel_password=s'`,
    "DROPSHIP_LOG_TIME=1",
    "",
  ].join("\n");
  const single = "PORT=3000\nREDIS_URL=redis://app:pw@10.78.0.2:6379/0\n";
  writeFileSync(join(root, "shared/monitor.env"), monitor);
  writeFileSync(join(root, "shared/app.env"), single);
  writeFileSync(join(root, "shared/notes.txt"), `redis-sentinel://x@dropship/0?sentinels=${old}`);
  const changed = onHost(root, hostCommands.pointSentinels(param));
  expect(changed).toBe(`${join(root, "shared/monitor.env")}\n`);
  const now = readFileSync(join(root, "shared/monitor.env"), "utf8");
  expect(now).toBe(monitor.replace(old, param));
  expect(now).toBe(repointSentinelsIn(monitor, param));
  expect(readFileSync(join(root, "shared/app.env"), "utf8")).toBe(single);
  expect(readFileSync(join(root, "shared/notes.txt"), "utf8")).toContain(old);
  // anything but an encoded host list is refused before it reaches a shell
  expect(() => hostCommands.pointSentinels("x';reboot;'")).toThrow("not a sentinels= value");
});

test("a binary's digest: recorded beside it when delivered, else read by OpenSSL, else by sha256sum", () => {
  const root = tempDir("dropship-layout-digest-");
  const binary = join(root, "dropship-app");
  writeFileSync(binary, "a binary's bytes");
  const digest = new Bun.CryptoHasher("sha256").update("a binary's bytes").digest("hex");
  const first = (output: string) => output.split(" ")[0];
  const run = (command: string, path?: string) => {
    const result = Bun.spawnSync(["/bin/sh", "-c", command], {
      env: path ? { PATH: path } : process.env,
    });
    return result.stdout.toString();
  };
  expect(first(run(hostCommands.sha256(binary)))).toBe(digest);
  // a host without openssl: only the shell's own tools and sha256sum on its PATH
  const tools = join(root, "bin");
  mkdirSync(tools);
  Bun.spawnSync(["ln", "-s", Bun.which("sha256sum") as string, join(tools, "sha256sum")]);
  expect(run(`command -v openssl || echo none`, tools).trim()).toBe("none");
  expect(first(run(hostCommands.sha256(binary), tools))).toBe(digest);
  // a missing file prints nothing, whichever reads it
  expect(run(hostCommands.sha256(join(root, "missing")))).toBe("");
  expect(run(hostCommands.sha256(join(root, "missing")), tools)).toBe("");
  // the record wins over the file (a delivery checks what it built on), absent it the file
  expect(first(run(hostCommands.recordedDigest(binary)))).toBe(digest);
  writeFileSync(`${binary}.sha256`, `${"f".repeat(64)}\n`);
  expect(run(hostCommands.recordedDigest(binary)).trim()).toBe("f".repeat(64));
});

test("the access log since a time is read on the host, from the file and the one before it; a time not ISO is refused", () => {
  expect(
    hostCommands.accessLog({ lines: 50, follow: false, since: "2026-12-05T20:00:00.000Z" }),
  ).toBe(
    "cat /srv/dropship/logs/access.log.1 /srv/dropship/logs/access.log 2>/dev/null | awk -v since=2026-12-05T20:00:00.000Z '$1 >= since' | tail -n 50",
  );
  expect(hostCommands.accessLog({ lines: 0, follow: true })).toBe(
    "tail -n 0 -F /srv/dropship/logs/access.log",
  );
  expect(() =>
    hostCommands.accessLog({ lines: 5, follow: false, since: "2026-12-05T20:00:00Z; reboot" }),
  ).toThrow("not an ISO time");
});

test("a service's log since a time is picked on the host: by journald, or from its file with the lines that follow", () => {
  const since = "2026-12-05T20:00:00.000Z";
  const command = hostCommands.log("app", { lines: 50, follow: false, since });
  expect(command).toStartWith(
    `if [ -d /run/systemd/system ]; then journalctl -u dropship-app -o cat --no-pager --since @${Date.parse(since) / 1000} -n 50; else `,
  );
  // without systemd, the file: from the first line at or after the time, a stack trace's
  // lines with the line they follow
  const file = join(tempDir("dropship-log-since-"), "app.log");
  writeFileSync(
    file,
    [
      "2026-12-05T19:59:59.000Z dropship-app: before",
      "    at old (app.ts:1)",
      "2026-12-05T20:00:00.000Z dropship-app: at the time",
      "2026-12-05T20:00:01.000Z dropship-app: error",
      "    at handler (app.ts:9)",
      "2026-12-05T20:00:02.000Z dropship-app: after",
      "",
    ].join("\n"),
  );
  const withoutSystemd = command
    .replace("[ -d /run/systemd/system ]", "false")
    .replace("/srv/dropship/logs/app.log", file);
  const picked = Bun.spawnSync(["sh", "-c", withoutSystemd]).stdout.toString();
  expect(picked.split("\n")).toEqual([
    "2026-12-05T20:00:00.000Z dropship-app: at the time",
    "2026-12-05T20:00:01.000Z dropship-app: error",
    "    at handler (app.ts:9)",
    "2026-12-05T20:00:02.000Z dropship-app: after",
    "",
  ]);
  // the last lines of the stretch when it is longer than asked
  const two = hostCommands
    .log("app", { lines: 2, follow: false, since })
    .replace("[ -d /run/systemd/system ]", "false")
    .replace("/srv/dropship/logs/app.log", file);
  expect(Bun.spawnSync(["sh", "-c", two]).stdout.toString()).toBe(
    "    at handler (app.ts:9)\n2026-12-05T20:00:02.000Z dropship-app: after\n",
  );
  expect(() => hostCommands.log("app", { lines: 5, follow: false, since: "now; reboot" })).toThrow(
    "not an ISO time",
  );
});
