// lane: alone — these tests load this machine's real CPU and read it back; another test beside
// them would fire alerts of its own (npm test runs this file by itself, before the rest)
import { expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { KEYS } from "../../../server/shared/state/keys.ts";
import { forgetHost } from "../../../server/shared/state/routing.ts";
import { track } from "../../helpers/processes.ts";
import { addBackend, admin, startProxy } from "../../helpers/proxy.ts";
import { connectTo, startRedis } from "../../helpers/redis.ts";
import { eventually, startServer } from "../../helpers/server.ts";
import { startSmtp } from "../../helpers/smtp.ts";
import { fileTempDir } from "../../helpers/tmp.ts";
import { startUpstream } from "../../helpers/upstream.ts";

const redis = await startRedis();
const state = await connectTo(redis);
const smtp = await startSmtp();
const production = startUpstream("prod");
const staging = startUpstream("canary");
await addBackend(state, "production", production.url);
await addBackend(state, "staging", staging.url);
const proxy = await startProxy(redis);
const config = join(fileTempDir("dropship-monitor-"), "dropship.yml");
writeFileSync(config, "monitor: { hysteresis: 5, mail_gap: 2s, no_data: 2s }\n");

const monitorEnv = {
  REDIS_URL: redis.url,
  DROPSHIP_CONFIG: config,
  DROPSHIP_MONITOR_CPU: "60",
  DROPSHIP_MONITOR_FOR: "1s",
  DROPSHIP_MONITOR_INTERVAL: "250ms",
  SMTP_URL: smtp.url,
  ALERT_EMAIL_TO: "ops@example.com",
  ALERT_EMAIL_FROM: "dropship@example.com",
  DROPSHIP_DASHBOARD_URL: `${proxy.adminUrl}/_dropship/`,
};
const monitor = await startServer("monitor", {
  ...monitorEnv,
  DROPSHIP_ROLE: "proxy",
  DROPSHIP_HOSTNAME: "proxy-1",
});

/** Real CPU load: one busy process per core, until stopped. */
function burnCpu(): Subprocess[] {
  return [0, 1].map(() =>
    track(Bun.spawn([process.execPath, "-e", "for (;;) {}"], { stdout: "ignore" })),
  );
}
async function stopBurning(burners: Subprocess[]) {
  for (const burner of burners) burner.kill("SIGKILL");
  await Promise.all(burners.map((b) => b.exited));
}
const proxyStatus = async () =>
  (await (await fetch(`${proxy.adminUrl}/_dropship/status`, { headers: admin })).json()) as {
    canary: { state: string; stagingGetsTraffic: boolean; blockedBecause: string | null };
  };

test("real CPU load fires one mail, blocks the canary, and resolving mails once more", async () => {
  const burners = burnCpu();
  let mails: Awaited<ReturnType<typeof smtp.waitFor>>;
  try {
    mails = await smtp.waitFor(1, 20_000);
    await eventually(
      async () => !(await proxyStatus()).canary.stagingGetsTraffic,
      2000,
      "canary blocked",
    );
  } finally {
    await stopBurning(burners);
  }
  const fired = mails[0];
  expect(fired?.subject).toBe("[dropship] FIRING cpu on proxy-1 (proxy)");
  expect(fired?.to && "text" in fired.to ? fired.to.text : "").toBe("ops@example.com");
  const body = fired?.text ?? "";
  expect(body).toContain("dropship-monitor on proxy-1 (role proxy, release ");
  expect(body).toMatch(/FIRING cpu:proxy-1: CPU \d+\.\d% above 60% since \d{4}-\d\d-\d\dT/);
  expect(body).toContain(`Dashboard: ${proxy.adminUrl}/_dropship/`);
  expect((await proxyStatus()).canary.blockedBecause).toStartWith(
    "aborted: alert cpu:proxy-1: CPU",
  );

  const resolved = await smtp.waitFor(2, 20_000);
  expect(resolved[1]?.subject).toBe("[dropship] RESOLVED on proxy-1 (proxy)");
  expect(resolved[1]?.text).toMatch(/RESOLVED cpu:proxy-1: CPU \d+\.\d% is below 55% again/);
  expect(await state.hexists(KEYS.alerts, "cpu:proxy-1")).toBe(0);
  // after_alert is stay_off: the canary waits for a person
  const after = await proxyStatus();
  expect(after.canary.state).toBe("aborted");
  await Bun.sleep(3000);
  expect(smtp.mails).toHaveLength(2);
}, 60_000);

test("with SMTP down the monitor keeps sampling and delivers once it is back", async () => {
  await smtp.stop();
  const samples = async () =>
    ((await (await fetch(`${monitor.url}/healthz`)).json()) as { samples: number }).samples;
  const burners = burnCpu();
  try {
    await eventually(
      async () => (await state.hexists(KEYS.alerts, "cpu:proxy-1")) === 1,
      20_000,
      "alert raised",
    );
    const before = await samples();
    await Bun.sleep(2500);
    expect(await samples()).toBeGreaterThan(before + 4);
    expect(smtp.mails).toHaveLength(2);
  } finally {
    await stopBurning(burners);
  }
  await smtp.start();
  const mails = await smtp.waitFor(3, 30_000);
  expect(mails[2]?.subject).toBe("[dropship] FIRING cpu on proxy-1 (proxy)");
}, 90_000);

test("a host that stops reporting is its own alert, mailed by the proxy's monitor", async () => {
  await smtp.waitFor(4, 30_000).catch(() => undefined);
  const count = smtp.mails.length;
  const web = await startServer("monitor", {
    ...monitorEnv,
    DROPSHIP_ROLE: "production",
    DROPSHIP_HOSTNAME: "web-1",
    DROPSHIP_MONITOR_CPU: "99",
  });
  await eventually(
    async () => (await state.exists(KEYS.host("web-1"))) === 1,
    5000,
    "web-1 reporting",
  );
  process.kill(web.pid, "SIGKILL");
  // the mail about web-1, whatever else this host's own CPU had the monitor send meanwhile
  const aboutWeb = () => smtp.mails.slice(count).find((m) => m.subject?.includes("web-1"));
  await eventually(async () => aboutWeb() !== undefined, 20_000, "a mail about web-1");
  const nodata = aboutWeb();
  expect(nodata?.subject).toBe("[dropship] FIRING nodata on web-1 (production)");
  expect(nodata?.text).toMatch(/FIRING nodata:web-1: no figures from web-1 since /);
  expect(await state.hexists(KEYS.alerts, "nodata:web-1")).toBe(1);
}, 60_000);

test("metrics show the host's figures", async () => {
  const metrics = await (await fetch(`${monitor.url}/metrics`)).text();
  expect(metrics).toMatch(/dropship_host_cpu_percent\{host="proxy-1",role="proxy"\} \d+\.\d\d/);
  expect(metrics).toMatch(/dropship_host_memory_percent\{host="proxy-1",role="proxy"\} \d+\.\d\d/);
  expect(metrics).toContain(
    'dropship_alert_firing{host="proxy-1",role="proxy",alert="nodata:web-1"} 1',
  );
});

test("a silent host that leaves the fleet (a heal or a scale-in forgets it) ends its alert with one mail", async () => {
  const count = smtp.mails.length;
  await forgetHost(state, "web-1", "dropship heal");
  const aboutWeb = () => smtp.mails.slice(count).filter((m) => m.subject?.includes("web-1"));
  await eventually(async () => aboutWeb().length > 0, 20_000, "a mail about web-1 leaving");
  const [resolved] = aboutWeb();
  expect(resolved?.subject).toBe("[dropship] RESOLVED on web-1 (production)");
  expect(resolved?.text).toContain(
    "- RESOLVED nodata:web-1: web-1 left the fleet (scaled in or replaced)",
  );
  const metrics = await (await fetch(`${monitor.url}/metrics`)).text();
  expect(metrics).not.toContain('alert="nodata:web-1"');
  // the monitor does not raise it again, and says it once
  await Bun.sleep(3_000);
  expect(await state.hexists(KEYS.alerts, "nodata:web-1")).toBe(0);
  expect(aboutWeb()).toHaveLength(1);
}, 40_000);
