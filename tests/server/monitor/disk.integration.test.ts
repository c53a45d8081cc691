import { expect, test } from "bun:test";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { KEYS } from "../../../server/shared/state/keys.ts";
import { diskOfItsOwn } from "../../helpers/disk.ts";
import { connectTo, startRedis } from "../../helpers/redis.ts";
import { eventually, serverEntry, startServer } from "../../helpers/server.ts";
import { startSmtp } from "../../helpers/smtp.ts";
import { fileTempDir } from "../../helpers/tmp.ts";

// A disk filling up, on a disk of 16 MiB of its own (tmpfs): the monitor mails once when it
// passes the threshold and once when it is below again. CPU and memory cannot fire here (100%).
const { path: disk, remove } = diskOfItsOwn(16);
const config = fileTempDir();

// whatever fails to start must not leave the mount behind
const { redis, state, smtp, monitor } = await (async () => {
  const redis = await startRedis();
  const state = await connectTo(redis);
  const smtp = await startSmtp();
  // two mails about one host may come 2 s apart, not a minute
  writeFileSync(join(config, "dropship.yml"), "monitor: { mail_gap: 2s }\n");
  const monitor = await startServer("monitor", {
    REDIS_URL: redis.url,
    DROPSHIP_CONFIG: join(config, "dropship.yml"),
    DROPSHIP_ROLE: "production",
    DROPSHIP_HOSTNAME: "web-1",
    DROPSHIP_MONITOR_CPU: "100",
    DROPSHIP_MONITOR_MEM: "100",
    DROPSHIP_MONITOR_DISK: "50",
    DROPSHIP_MONITOR_DISK_PATH: disk,
    DROPSHIP_MONITOR_FOR: "1s",
    DROPSHIP_MONITOR_INTERVAL: "250ms",
    SMTP_URL: smtp.url,
    ALERT_EMAIL_TO: "ops@example.com",
    ALERT_EMAIL_FROM: "dropship@example.com",
  });
  return { redis, state, smtp, monitor };
})().catch((error) => {
  remove();
  throw error;
});
const figures = async () => (await (await fetch(`${monitor.url}/metrics`)).text()).toString();

test("a disk past monitor/disk mails once, is an alert in Redis, and mails once more when freed", async () => {
  expect(monitor.started).toContain("disk > 50% for 1000 ms");
  expect(await figures()).toMatch(
    /dropship_host_disk_percent\{host="web-1",role="production"\} 0\./,
  );

  writeFileSync(join(disk, "logs"), new Uint8Array(12 * 1024 * 1024).fill(1));
  const [fired] = await smtp.waitFor(1, 20_000);
  expect(fired?.subject).toBe("[dropship] FIRING disk on web-1 (production)");
  expect(fired?.text).toMatch(/FIRING disk:web-1: disk 7\d\.\d% above 50% since \d{4}-\d\d-\d\dT/);
  expect(await state.hexists(KEYS.alerts, "disk:web-1")).toBe(1);
  expect(await figures()).toMatch(/dropship_host_disk_percent\{[^}]*\} 7\d\.\d\d/);
  expect(await figures()).toContain(
    'dropship_alert_firing{host="web-1",role="production",alert="disk:web-1"} 1',
  );

  rmSync(join(disk, "logs"));
  const mails = await smtp.waitFor(2, 20_000);
  expect(mails[1]?.subject).toBe("[dropship] RESOLVED on web-1 (production)");
  expect(mails[1]?.text).toMatch(/RESOLVED disk:web-1: disk 0\.\d% is below 45% again/);
  await eventually(
    async () => (await state.hexists(KEYS.alerts, "disk:web-1")) === 0,
    5000,
    "the alert cleared in Redis",
  );
  // once each way, however many samples it took
  await Bun.sleep(1500);
  expect(smtp.mails).toHaveLength(2);
}, 60_000);

test("a disk path with nothing at it stops the monitor at the door, saying what to set", () => {
  const run = Bun.spawnSync([process.execPath, serverEntry("monitor")], {
    cwd: join(import.meta.dir, "../../.."),
    env: {
      PATH: process.env.PATH ?? "",
      PORT: "0",
      REDIS_URL: redis.url,
      DROPSHIP_ROLE: "production",
      DROPSHIP_MONITOR_DISK_PATH: join(config, "nowhere"),
    },
    stderr: "pipe",
    timeout: 20_000,
  });
  expect(run.exitCode).toBe(1);
  expect(run.stderr.toString()).toContain(
    `dropship-monitor: DROPSHIP_MONITOR_DISK_PATH is ${join(config, "nowhere")}, where there is nothing to read — give a path on the filesystem to watch, or leave it unset for /`,
  );
});

test("a disk gone from under a running monitor is said once; CPU and memory go on", async () => {
  const volume = join(fileTempDir(), "volume");
  mkdirSync(volume);
  const other = await startServer("monitor", {
    REDIS_URL: redis.url,
    DROPSHIP_ROLE: "production",
    DROPSHIP_HOSTNAME: "web-2",
    DROPSHIP_MONITOR_DISK_PATH: volume,
    DROPSHIP_MONITOR_INTERVAL: "250ms",
  });
  rmSync(volume, { recursive: true });
  const samples = async () =>
    ((await (await fetch(`${other.url}/healthz`)).json()) as { samples: number }).samples;
  const before = await samples();
  await Bun.sleep(1500);
  expect(await samples()).toBeGreaterThan(before + 3);
  const said = other
    .stderr()
    .split("\n")
    .filter((l) => l.includes("cannot read the disk at"));
  expect(said).toEqual([
    `dropship-monitor: cannot read the disk at ${volume}: ENOENT: no such file or directory, statfs '${volume}'`,
  ]);
});
