/**
 * What dropship-monitor itself costs at its default 5 s interval: CPU time over a run, as a
 * share of one core, and resident memory at the end. Redis is real. Two monitors run side by
 * side: one with SMTP_URL set (nodemailer loaded; no mail is sent), one without (alerts are
 * only logged).
 *
 *   bun bench/monitor-cost.ts [seconds=60]
 */
import { benchRedis, benchServer, cleanup, cpuTicks, rssMb } from "./lib.ts";

const seconds = Number(process.argv[2] ?? 60);
try {
  const redis = await benchRedis();
  const base = { REDIS_URL: redis.url, DROPSHIP_ROLE: "production" };
  const mail = {
    SMTP_URL: "smtp://alerts:unused@127.0.0.1:2525",
    ALERT_EMAIL_TO: "ops@example.com",
  };
  const variants = [
    ["with SMTP_URL", await benchServer("monitor", { ...base, ...mail })],
    ["without SMTP_URL", await benchServer("monitor", base)],
  ] as const;
  await Bun.sleep(2000);
  const before = variants.map(([, monitor]) => cpuTicks(monitor.pid));
  await Bun.sleep(seconds * 1000);
  console.log(
    `dropship-monitor over ${seconds} s at the default 5 s interval, after a 2 s warm-up:`,
  );
  variants.forEach(([name, monitor], i) => {
    const used = (cpuTicks(monitor.pid) - (before[i] ?? 0)) / 100;
    const share = ((100 * used) / seconds).toFixed(2);
    console.log(
      `  ${name}: CPU ${used.toFixed(2)} s = ${share}% of one core, RSS ${rssMb(monitor.pid).toFixed(1)} MB`,
    );
  });
} finally {
  await cleanup();
}
