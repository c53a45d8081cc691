import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { backendIdFor, type Track } from "../server/shared/routing/model.ts";
import { changeFlag, listFlags } from "../server/shared/state/flags.ts";
import { connectRedis, whenReady } from "../server/shared/state/redis.ts";
import { putBackend } from "../server/shared/state/routing.ts";
import { runCli, UsageError } from "./lib/cli.ts";
import { freePort, isAlive, startDaemon, stopAll, waitForHttp } from "./lib/processes.ts";

const USAGE = `
Usage: bun run demo [--detach | --down]

Brings dropship up on this machine, all on loopback: a redis-server with a password, two
production dropship-app processes and a staging one, dropship-proxy in front, a
dropship-monitor and dropship-receiver. A push to the receiver is tested and built; the
demo has no droplets yet (they join with the scaling work), so nothing is deployed. With no
SMTP_URL the monitor logs its alerts to .dropship/demo/monitor.log. Writes
.dropship/demo.env: PROXY_URL, GIT_REMOTE, DASHBOARD_URL, DROPSHIP_ADMIN_TOKEN, REDIS_URL,
PRODUCTION_URLS, STAGING_URL.

  (none)     run in the foreground; Ctrl-C tears everything down
  --detach   return once everything serves; stop it later with --down
  --down     stop a detached demo and remove its files
`;

const ROOT = resolve(import.meta.dir, "..");
const STATE = resolve(process.env.DROPSHIP_DEMO_DIR ?? join(ROOT, ".dropship"));
const RUN = join(STATE, "demo");
const PIDS = join(RUN, "pids.json");
const ENV_FILE = join(STATE, "demo.env");

await runCli("demo", USAGE, async (args) => {
  const mode = args[0];
  if (args.length > 1 || (mode && mode !== "--detach" && mode !== "--down")) {
    throw new UsageError(`unknown arguments: ${args.join(" ")} — see --help`);
  }
  if (mode === "--down") return down();
  const running = readPids().filter(isAlive);
  if (running.length > 0) {
    throw new UsageError(
      `a demo is already running (pids ${running.join(", ")}); stop it with bun run demo --down`,
    );
  }
  const pids: number[] = [];
  try {
    await up(pids);
  } catch (error) {
    await stopAll(pids);
    throw error;
  }
  if (mode === "--detach") return;
  console.log("\nCtrl-C stops the demo.");
  await new Promise<void>((resolve) => {
    process.once("SIGINT", resolve);
    process.once("SIGTERM", resolve);
  });
  console.log("\nstopping the demo…");
  await down();
});

async function up(pids: number[]) {
  rmSync(RUN, { recursive: true, force: true });
  mkdirSync(RUN, { recursive: true });
  const step = (text: string) => console.log(`▸ ${text}`);
  const record = (pid: number) => {
    pids.push(pid);
    writeFileSync(PIDS, JSON.stringify(pids));
  };

  step("redis-server");
  const redisPort = freePort();
  const password = crypto.randomUUID().replaceAll("-", "");
  record(
    startDaemon(
      [
        "redis-server",
        "--port",
        String(redisPort),
        "--bind",
        "127.0.0.1",
        "--requirepass",
        password,
      ].concat(["--dir", RUN, "--save", "", "--appendonly", "yes"]),
      {},
      join(RUN, "redis.log"),
    ),
  );
  const redisUrl = `redis://:${password}@127.0.0.1:${redisPort}/0`;
  const admin = connectRedis(redisUrl, { purpose: "demo", persistent: true, log: () => {} });
  try {
    await whenReady(admin, redisUrl, 10_000);
    if (!(await listFlags(admin)).some((f) => f.name === "disableSET")) {
      await changeFlag(admin, "disableSET", { enabled: false, rollout: 100 }, "demo", "create");
    }
  } finally {
    admin.disconnect();
  }

  const apps: { track: Track; url: string }[] = [];
  for (const [track, n] of [
    ["production", 1],
    ["production", 2],
    ["staging", 1],
  ] as const) {
    step(`dropship-app ${track} ${n}`);
    const port = freePort();
    const url = `http://127.0.0.1:${port}`;
    record(
      startDaemon(
        [process.execPath, join(ROOT, "server/app/main.ts")],
        { PORT: String(port), HOST: "127.0.0.1", REDIS_URL: redisUrl, DROPSHIP_TRACK: track },
        join(RUN, `app-${track}-${n}.log`),
      ),
    );
    await waitForHttp(`${url}/healthz`, 15_000, `dropship-app ${track} ${n}`);
    apps.push({ track, url });
  }

  const production = apps.filter((a) => a.track === "production").map((a) => a.url);
  const staging = apps.find((a) => a.track === "staging")?.url ?? "";
  const state = connectRedis(redisUrl, { purpose: "demo", persistent: true, log: () => {} });
  try {
    await whenReady(state, redisUrl, 10_000);
    for (const app of apps) {
      const backend = {
        id: backendIdFor(app.url),
        url: app.url,
        track: app.track,
        draining: false,
      };
      await putBackend(state, backend, "demo");
    }
  } finally {
    state.disconnect();
  }

  step("dropship-proxy");
  const proxyPort = freePort();
  const proxy = `http://127.0.0.1:${proxyPort}`;
  const token = crypto.randomUUID().replaceAll("-", "");
  record(
    startDaemon(
      [process.execPath, join(ROOT, "server/proxy/main.ts")],
      {
        PORT: String(proxyPort),
        HOST: "127.0.0.1",
        REDIS_URL: redisUrl,
        DROPSHIP_ADMIN_TOKEN: token,
      },
      join(RUN, "proxy.log"),
    ),
  );
  await waitForHttp(`${proxy}/_dropship/healthz`, 15_000, "dropship-proxy");

  step("dropship-monitor");
  const monitorPort = freePort();
  record(
    startDaemon(
      [process.execPath, join(ROOT, "server/monitor/main.ts")],
      {
        PORT: String(monitorPort),
        HOST: "127.0.0.1",
        REDIS_URL: redisUrl,
        DROPSHIP_ROLE: "proxy",
        DROPSHIP_HOSTNAME: "demo-proxy",
        DROPSHIP_DASHBOARD_URL: `${proxy}/_dropship/`,
      },
      join(RUN, "monitor.log"),
    ),
  );
  await waitForHttp(`http://127.0.0.1:${monitorPort}/healthz`, 15_000, "dropship-monitor");

  step("dropship-receiver");
  const receiverPort = freePort();
  const demoConfig = join(RUN, "dropship.yml");
  // The demo's pushes run the unit tests: the full suite starts emulators of its own.
  writeFileSync(
    demoConfig,
    "pipeline:\n  test:\n    master: bun run test:unit\n    staging: bun run test:unit\n",
  );
  record(
    startDaemon(
      [process.execPath, join(ROOT, "server/receiver/main.ts")],
      {
        PORT: String(receiverPort),
        HOST: "127.0.0.1",
        DROPSHIP_ADMIN_TOKEN: token,
        DROPSHIP_REPOS: join(RUN, "repos"),
        DROPSHIP_WORK: join(RUN, "work"),
        DROPSHIP_CONFIG: demoConfig,
        REDIS_URL: redisUrl,
      },
      join(RUN, "receiver.log"),
    ),
  );
  await waitForHttp(`http://127.0.0.1:${receiverPort}/healthz`, 15_000, "dropship-receiver");
  const gitRemote = `http://demo:${token}@127.0.0.1:${receiverPort}/app.git`;

  writeFileSync(
    ENV_FILE,
    [
      `PROXY_URL=${proxy}`,
      `GIT_REMOTE=${gitRemote}`,
      `DASHBOARD_URL=${proxy}/_dropship/`,
      `DROPSHIP_ADMIN_TOKEN=${token}`,
      `REDIS_URL=${redisUrl}`,
      `PRODUCTION_URLS=${production.join(",")}`,
      `STAGING_URL=${staging}`,
    ]
      .join("\n")
      .concat("\n"),
    { mode: 0o600 },
  );
  console.log(`
dropship demo is up. Settings are in ${ENV_FILE}; load them with: set -a; . ${ENV_FILE}; set +a

  proxy       ${proxy}          (30% of new visitors see staging)
  dashboard   ${proxy}/_dropship/   (user: anything, password: the admin token)
  admin token ${token}   (made up for this demo)
  production  ${production.join("  ")}
  staging     ${staging}
  REDIS_URL   ${redisUrl}

Try:
${tryLines([
  [`curl ${production[0]}/set`, "stores the seed's message"],
  ["bun run flags set disableSET on", "needs REDIS_URL from demo.env"],
  [`curl ${staging}/set`, "403 within milliseconds, on every app"],
  ["bun run flags history", "who changed what, when"],
])}`);
}

async function down() {
  const pids = readPids();
  await stopAll(pids);
  rmSync(RUN, { recursive: true, force: true });
  rmSync(ENV_FILE, { force: true });
  console.log(pids.length > 0 ? `stopped ${pids.length} processes` : "no demo was running");
}

function tryLines(lines: [string, string][]): string {
  const width = Math.max(...lines.map(([command]) => command.length));
  return lines.map(([command, note]) => `  ${command.padEnd(width)}   # ${note}`).join("\n");
}

function readPids(): number[] {
  if (!existsSync(PIDS)) return [];
  try {
    return JSON.parse(readFileSync(PIDS, "utf8")) as number[];
  } catch {
    return [];
  }
}
