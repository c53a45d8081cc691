import { expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { markReplacing, reportHost, unmarkReplacing } from "../../../server/shared/state/hosts.ts";
import { KEYS } from "../../../server/shared/state/keys.ts";
import { forgetHost } from "../../../server/shared/state/routing.ts";
import { connectTo, startRedis } from "../../helpers/redis.ts";
import { eventually, expectLogged, startServer } from "../../helpers/server.ts";
import { startSmtp } from "../../helpers/smtp.ts";
import { fileTempDir } from "../../helpers/tmp.ts";

// The proxy's monitor watching other hosts for silence while the heal replaces one: the heal
// marks the host in Redis (pipeline/heal.ts), and the heal's own mail is the one a person gets.
// The other hosts' figures are written here as their monitors write them; each test has a host
// that is silent and not marked beside the marked one, whose mail shows the monitor has looked.
const redis = await startRedis();
const state = await connectTo(redis);
const smtp = await startSmtp();
const config = join(fileTempDir("dropship-replacing-"), "dropship.yml");
writeFileSync(config, "monitor: { mail_gap: 1s, no_data: 1s }\n");
const monitor = await startServer("monitor", {
  REDIS_URL: redis.url,
  DROPSHIP_CONFIG: config,
  // this host's own figures never fire: only silences are mailed here
  DROPSHIP_MONITOR_CPU: "100",
  DROPSHIP_MONITOR_MEM: "100",
  DROPSHIP_MONITOR_DISK: "100",
  DROPSHIP_MONITOR_INTERVAL: "200ms",
  SMTP_URL: smtp.url,
  ALERT_EMAIL_TO: "ops@example.com",
  ALERT_EMAIL_FROM: "dropship@example.com",
  DROPSHIP_ROLE: "proxy",
  DROPSHIP_HOSTNAME: "proxy-1",
});

/** One report from a production host, as its monitor sends them, `agoMs` old. */
const reported = (host: string, agoMs = 0) =>
  reportHost(state, {
    host,
    role: "production",
    cpu: 3,
    memory: 20,
    at: Date.now() - agoMs,
    release: "rel-1",
  });
const mailsAbout = (host: string) =>
  smtp.mails.filter((m) => m.subject?.includes(` ${host} `)).map((m) => m.subject);
/** Waits for the monitor's line saying it has seen the heal's mark on `host`. */
const sawMark = (host: string, why: string) =>
  expectLogged(
    () => monitor.stderr(),
    `${host} is silent; the heal is replacing it (${why}), and mails that`,
    10_000,
  );
const mailFor = (host: string, subject: string) =>
  eventually(async () => mailsAbout(host).includes(subject), 15_000, `"${subject}"`);

test("a host the heal is replacing raises no silence, and leaving the fleet mails nothing", async () => {
  await reported("web-1");
  await markReplacing(state, "web-1", "gone from the cloud API");
  await reported("web-2");
  await mailFor("web-2", "[dropship] FIRING nodata on web-2 (production)");
  await Bun.sleep(1500); // past the mail gap, and a few looks more
  expect(mailsAbout("web-1")).toEqual([]);
  expect(await state.hexists(KEYS.alerts, "nodata:web-1")).toBe(0);
  await sawMark("web-1", "gone from the cloud API");
  // the heal's end: the figures and the mark go at once
  await forgetHost(state, "web-1", "dropship heal");
  await forgetHost(state, "web-2", "dropship scale");
  await mailFor("web-2", "[dropship] RESOLVED on web-2 (production)");
  expect(mailsAbout("web-1")).toEqual([]);
  expect(await state.exists(KEYS.replacing("web-1"))).toBe(0);
}, 40_000);

test("a heal that fails ends the mark, and the silence is mailed then", async () => {
  await reported("web-3");
  await markReplacing(state, "web-3", "silent for 2m");
  await sawMark("web-3", "silent for 2m");
  await Bun.sleep(1200); // a few looks more, past the mail gap
  expect(mailsAbout("web-3")).toEqual([]);
  await unmarkReplacing(state, "web-3");
  await mailFor("web-3", "[dropship] FIRING nodata on web-3 (production)");
  expect(await state.hexists(KEYS.alerts, "nodata:web-3")).toBe(1);
  await forgetHost(state, "web-3", "dropship scale");
}, 40_000);

test("a silence mailed before the heal began ends with the heal's mail alone", async () => {
  await reported("web-4");
  await reported("web-5");
  await mailFor("web-4", "[dropship] FIRING nodata on web-4 (production)");
  await mailFor("web-5", "[dropship] FIRING nodata on web-5 (production)");
  await markReplacing(state, "web-4", "silent for 2m");
  await sawMark("web-4", "silent for 2m");
  await forgetHost(state, "web-4", "dropship heal");
  await forgetHost(state, "web-5", "dropship scale");
  // web-5, scaled in, is told to have left; web-4's end is the heal's to tell
  await mailFor("web-5", "[dropship] RESOLVED on web-5 (production)");
  await Bun.sleep(1500); // past the mail gap: a resolved mail of web-4 would have gone too
  expect(mailsAbout("web-4")).toEqual(["[dropship] FIRING nodata on web-4 (production)"]);
  await expectLogged(
    () => monitor.stderr(),
    "resolved: nodata:web-4: web-4 was replaced (the heal's mail tells it)",
  );
  expect(await state.hexists(KEYS.alerts, "nodata:web-4")).toBe(0);
  const metrics = await (await fetch(`${monitor.url}/metrics`)).text();
  expect(metrics).not.toContain('alert="nodata:web-4"');
}, 40_000);
