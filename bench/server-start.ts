/**
 * What a server costs to start, from its TypeScript and from the bundle a test run makes
 * (scripts/lib/test-bundles.ts), in one run: the CPU ticks (1/100 s) each process and its
 * children spent until it printed its "listening on" line, medians of the rounds, the two
 * ways taking turns within each round.
 *
 *   bun bench/server-start.ts [ROUNDS]     (5 by default)
 */
import { rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { bundleEntry, bundleServers } from "../scripts/lib/test-bundles.ts";
import { benchRedis, childrenOf, cleanup, cpuTicks, median, ROOT, workDir } from "./lib.ts";

const rounds = Number(process.argv[2] ?? 5);
const redis = await benchRedis();
const config = join(workDir, "dropship.yml");
writeFileSync(config, "health: { interval: 200ms, timeout: 1s }\n");
const env = {
  PATH: process.env.PATH ?? "",
  HOST: "127.0.0.1",
  PORT: "0",
  REDIS_URL: redis.url,
  DROPSHIP_ADMIN_TOKEN: "bench-admin-token-0123456789",
  DROPSHIP_ADMIN_PORT: "0",
  DROPSHIP_CONFIG: config,
  DROPSHIP_REPOS: join(workDir, "repos"),
  DROPSHIP_WORK: join(workDir, "work"),
};
const servers: { row: string; name: string; env?: Record<string, string> }[] = [
  { row: "proxy (workers: 1)", name: "proxy", env: { DROPSHIP_PROXY_WORKERS: "1" } },
  {
    row: "proxy (workers: 2, its 3 processes)",
    name: "proxy",
    env: { DROPSHIP_PROXY_WORKERS: "2" },
  },
  { row: "receiver", name: "receiver" },
  { row: "app", name: "app" },
];

/** CPU ticks of `entry`'s process and its children at its "listening on" line. */
async function startTicks(entry: string, extra: Record<string, string> = {}): Promise<number> {
  const child = Bun.spawn([process.execPath, entry], {
    cwd: ROOT,
    env: { ...env, ...extra },
    stdout: "pipe",
    stderr: "ignore",
  });
  const reader = child.stdout.getReader();
  const decoder = new TextDecoder();
  let said = "";
  while (!said.includes("listening on")) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`${entry} ended before it listened:\n${said}`);
    said += decoder.decode(value, { stream: true });
  }
  let ticks = cpuTicks(child.pid);
  for (const pid of childrenOf(child.pid)) ticks += cpuTicks(pid);
  child.kill("SIGTERM");
  await child.exited;
  return ticks;
}

const bundles = await bundleServers(ROOT);
try {
  const ticks = new Map<string, { source: number[]; bundle: number[] }>();
  for (let round = 0; round < rounds; round++)
    for (const server of servers) {
      const row = ticks.get(server.row) ?? { source: [], bundle: [] };
      ticks.set(server.row, row);
      const source = join(ROOT, `server/${server.name}/main.ts`);
      const bundle = bundleEntry(bundles, server.name);
      // the two ways in turn, the first alternating from round to round
      const order = round % 2 === 0 ? ["source", "bundle"] : ["bundle", "source"];
      for (const way of order)
        row[way as "source" | "bundle"].push(
          await startTicks(way === "source" ? source : bundle, server.env),
        );
    }
  console.log(`| server | from source (ticks) | from its bundle | less |`);
  console.log(`|---|---|---|---|`);
  for (const [row, { source, bundle }] of ticks) {
    const [s, b] = [median(source), median(bundle)];
    console.log(`| ${row} | ${s} | ${b} | ${Math.round((1 - b / s) * 100)}% |`);
  }
} finally {
  rmSync(bundles, { recursive: true, force: true });
  await cleanup();
}
