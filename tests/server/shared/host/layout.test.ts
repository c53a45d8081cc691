import { expect, test } from "bun:test";
import { mkdirSync, readFileSync, readlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import {
  HOST_ROOT,
  hostCommands,
  isReleaseName,
  releaseVersion,
} from "../../../../server/shared/host/layout.ts";
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
    "if [ -d /run/systemd/system ]; then systemctl restart dropship-proxy; else /srv/dropship/bin/dropship-service handover proxy; fi",
  );
  expect(hostCommands.log("app", { lines: 100, follow: false })).toBe(
    "if [ -d /run/systemd/system ]; then journalctl -u dropship-app -o cat --no-pager -n 100; else tail -n 100 /srv/dropship/logs/app.log; fi",
  );
  expect(hostCommands.log("proxy", { lines: 0, follow: true })).toContain(
    "tail -n 0 -F /srv/dropship/logs/proxy.log",
  );
});
