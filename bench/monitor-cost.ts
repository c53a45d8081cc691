/**
 * What dropship-monitor itself costs at its default 5 s interval: CPU time over a run, as a
 * share of one core, and resident memory at the end. Redis is real; SMTP is left unset.
 *
 *   bun bench/monitor-cost.ts [seconds=60]
 */
import { readFileSync } from "node:fs";
import { benchRedis, benchServer, cleanup } from "./lib.ts";

const seconds = Number(process.argv[2] ?? 60);
const ticks = (pid: number) => {
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]?.split(" ") ?? [];
  return Number(fields[11]) + Number(fields[12]);
};
const rssMb = (pid: number) =>
  Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1] ?? 0) / 1024;

try {
  const redis = await benchRedis();
  const monitor = await benchServer("monitor", {
    REDIS_URL: redis.url,
    DROPSHIP_ROLE: "production",
  });
  await Bun.sleep(2000);
  const before = ticks(monitor.pid);
  await Bun.sleep(seconds * 1000);
  const used = (ticks(monitor.pid) - before) / 100;
  console.log(
    `dropship-monitor over ${seconds} s at the default 5 s interval (after a 2 s warm-up):`,
  );
  console.log(`  CPU ${used.toFixed(2)} s = ${((100 * used) / seconds).toFixed(2)}% of one core`);
  console.log(`  RSS ${rssMb(monitor.pid).toFixed(1)} MB`);
} finally {
  await cleanup();
}
