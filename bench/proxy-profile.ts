/**
 * Where dropship-proxy's time goes: the proxy under wrk load in front of the trivial upstream,
 * with Bun's sampling profiler on; prints the heaviest functions (self time).
 *
 *   bun bench/proxy-profile.ts [seconds=8] [connections=50]
 *
 * Writes the whole profile (Markdown, Bun's --cpu-prof-md) into the path it prints.
 */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { freePort, startDaemon, waitForHttp } from "../scripts/lib/processes.ts";
import {
  benchRedis,
  cleanup,
  ROOT,
  routeToProduction,
  startTrivialUpstream,
  workDir,
} from "./lib.ts";

const [seconds = 8, connections = 50] = process.argv.slice(2).map(Number);

try {
  const upstream = await startTrivialUpstream();
  const redis = await benchRedis();
  await routeToProduction(redis.url, [upstream]);

  const port = freePort();
  const profiles = join(workDir, "profiles");
  const pid = startDaemon(
    [
      process.execPath,
      "--cpu-prof-md",
      `--cpu-prof-dir=${profiles}`,
      "--cpu-prof-interval=200",
      join(ROOT, "server/proxy/main.ts"),
    ],
    {
      HOST: "127.0.0.1",
      PORT: String(port),
      REDIS_URL: redis.url,
      DROPSHIP_ADMIN_PORT: String(freePort()),
      DROPSHIP_PROXY_WORKERS: "1",
      DROPSHIP_PROXY_ENGINE: process.env.DROPSHIP_PROXY_ENGINE ?? "own",
    },
    join(workDir, "proxy.log"),
  );
  const url = `http://127.0.0.1:${port}`;
  await waitForHttp(`${url}/_dropship/healthz`, 15_000, "proxy");
  const wrk = Bun.spawnSync(["wrk", "-t1", `-c${connections}`, `-d${seconds}s`, `${url}/`]);
  console.error(/Requests\/sec:.*/.exec(wrk.stdout.toString())?.[0]);
  process.kill(pid, "SIGTERM");
  for (let i = 0; i < 100; i++) {
    try {
      process.kill(pid, 0);
      await Bun.sleep(100);
    } catch {
      break;
    }
  }
  const file = readdirSync(profiles).find((name) => name.endsWith(".md"));
  if (!file) throw new Error(`no profile was written into ${profiles}`);
  const text = readFileSync(join(profiles, file), "utf8");
  const copy = `/tmp/dropship-proxy-profile-${Date.now()}.md`;
  await Bun.write(copy, text);
  console.log(text.split("\n").slice(0, 80).join("\n"));
  console.log(`\nthe whole profile: ${copy}`);
} finally {
  await cleanup();
}
