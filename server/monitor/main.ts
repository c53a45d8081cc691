import { statfsSync } from "node:fs";
import { hostname, networkInterfaces } from "node:os";
import { parseDuration } from "../shared/config/duration.ts";
import { host, oneOf, port, readEnv, redisUrl, text, type Variable } from "../shared/env.ts";
import { onShutdown, serverMain } from "../shared/serve.ts";
import { VERSION } from "../shared/version.ts";
import { renderMetrics } from "./metrics.ts";
import { Monitor } from "./monitor.ts";
import { nativeRedis } from "./redis.ts";
import type { Rule } from "./rules.ts";
import { monitorSettings } from "./settings.ts";

const percent = (name: string, description: string): Variable<number | undefined> => ({
  name,
  description,
  optional: true,
  parse: (value) => {
    const n = Number(value);
    if (!Number.isFinite(n) || n <= 0 || n > 100)
      throw new Error(`${JSON.stringify(value)} is not a percentage from 1 to 100`);
    return n;
  },
});
const duration = (name: string, description: string): Variable<number | undefined> => ({
  name,
  description,
  optional: true,
  parse: (value) => {
    const ms = parseDuration(value);
    if (ms === undefined)
      throw new Error(`${JSON.stringify(value)} is not a duration — write it like 5s, 30s or 2m`);
    return ms;
  },
});

const SPEC = {
  port: port(9100, "port for /metrics and /healthz"),
  host: host(),
  redisUrl: redisUrl(),
  role: oneOf(
    "DROPSHIP_ROLE",
    ["proxy", "redis", "production", "staging"] as const,
    undefined,
    "this host's role",
  ),
  cpu: percent("DROPSHIP_MONITOR_CPU", "CPU alert threshold in percent (config, else 50)"),
  memory: percent("DROPSHIP_MONITOR_MEM", "memory alert threshold in percent (config, else 50)"),
  disk: percent("DROPSHIP_MONITOR_DISK", "disk alert threshold in percent (config, else 90)"),
  diskPath: text(
    "DROPSHIP_MONITOR_DISK_PATH",
    "/",
    "a path on the filesystem the disk alert watches",
  ),
  forMs: duration(
    "DROPSHIP_MONITOR_FOR",
    "how long a breach lasts before it fires (config, else 30s)",
  ),
  intervalMs: duration("DROPSHIP_MONITOR_INTERVAL", "sampling interval (config, else 5s)"),
  smtpUrl: text(
    "SMTP_URL",
    "",
    "smtp://user:password@host:587 for alert mail; unset: alerts are only logged",
  ),
  to: text("ALERT_EMAIL_TO", "", "who gets alert mail"),
  from: text("ALERT_EMAIL_FROM", "", "sender of alert mail (default dropship@<host>)"),
  name: text("DROPSHIP_HOSTNAME", hostname(), "the name this host reports under"),
  dashboard: text("DROPSHIP_DASHBOARD_URL", "", "link put in every mail"),
  config: text("DROPSHIP_CONFIG", "", "deployment config for monitor and canary settings"),
  watch: oneOf(
    "DROPSHIP_MONITOR_WATCH",
    ["auto", "yes", "no"] as const,
    "auto",
    "watch other hosts for silence (auto: on the proxy)",
  ),
};

await serverMain("dropship-monitor", "CPU, memory and disk alerts for one host", SPEC, async () => {
  const env = readEnv(SPEC);
  if (env.smtpUrl && !env.to)
    throw new Error("SMTP_URL is set but ALERT_EMAIL_TO is not — say who gets the mail");
  try {
    statfsSync(env.diskPath);
  } catch {
    throw new Error(
      `DROPSHIP_MONITOR_DISK_PATH is ${env.diskPath}, where there is nothing to read — give a path on the filesystem to watch, or leave it unset for /`,
    );
  }
  const config = await monitorSettings((line) => console.log(`dropship-monitor: ${line}`));
  const monitorConfig = config.monitor;
  const override = monitorConfig.roles[env.role];
  const forMs = env.forMs ?? override?.for ?? monitorConfig.for;
  const rule = (metric: Rule["metric"], threshold: number): Rule => ({
    metric,
    threshold,
    clearBelow: Math.max(0, threshold - monitorConfig.hysteresis),
    forMs,
    repeatMs: monitorConfig.repeat,
  });
  const rules = [
    rule("cpu", env.cpu ?? override?.cpu ?? monitorConfig.cpu),
    rule("memory", env.memory ?? override?.memory ?? monitorConfig.memory),
    rule("disk", env.disk ?? override?.disk ?? monitorConfig.disk),
  ];
  const log = (line: string) => console.error(`dropship-monitor: ${line}`);
  const redis = nativeRedis(env.redisUrl);
  const mailer = env.smtpUrl
    ? new (await import("../shared/mailer.ts")).Mailer({
        smtpUrl: env.smtpUrl,
        to: env.to,
        from: env.from || `dropship@${env.name}`,
        log,
      })
    : undefined;
  if (!mailer) log("SMTP_URL is not set: alerts are logged, not mailed");
  const monitor = new Monitor({
    host: env.name,
    address: primaryAddress(),
    role: env.role,
    release: VERSION,
    rules,
    diskPath: env.diskPath,
    intervalMs: env.intervalMs ?? monitorConfig.interval,
    noDataMs: monitorConfig.no_data,
    mailGapMs: monitorConfig.mail_gap,
    watch: env.watch === "yes" || (env.watch === "auto" && env.role === "proxy"),
    afterAlert: config.canary.after_alert,
    redis,
    mailer,
    dashboardUrl: env.dashboard || undefined,
    log,
  });
  await monitor.start();
  // Two read-only routes: plain Bun.serve keeps the monitor small (Elysia would add ~13 MB).
  const server = Bun.serve({
    port: env.port,
    hostname: env.host,
    fetch(request) {
      const path = new URL(request.url).pathname;
      if (path === "/healthz") {
        return Response.json({
          status: "ok",
          version: VERSION,
          host: env.name,
          role: env.role,
          ...monitor.latest,
        });
      }
      if (path === "/metrics") {
        return new Response(renderMetrics(monitor, env.name, env.role), {
          headers: { "content-type": "text/plain; version=0.0.4" },
        });
      }
      return new Response("dropship-monitor serves /healthz and /metrics\n", { status: 404 });
    },
  });
  const limits = rules.map((r) => `${r.metric} > ${r.threshold}% for ${forMs} ms`).join(", ");
  console.log(
    `dropship-monitor ${VERSION} (${env.role}) listening on http://${env.host}:${server.port} — ${limits}`,
  );
  onShutdown(async () => {
    monitor.stop();
    await server.stop();
    await mailer?.idle();
    mailer?.close();
    redis.close();
  });
});

/** The first non-loopback IPv4 address: on a droplet, the one the proxy reaches it at. */
function primaryAddress(): string | undefined {
  for (const addresses of Object.values(networkInterfaces())) {
    const found = addresses?.find((a) => a.family === "IPv4" && !a.internal);
    if (found) return found.address;
  }
  return undefined;
}
