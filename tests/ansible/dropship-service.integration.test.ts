import { afterAll, expect, test } from "bun:test";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { run, runAsync } from "../../server/shared/proc.ts";
import { ADMIN_TOKEN, addBackend } from "../helpers/proxy.ts";
import { connectTo, startRedis } from "../helpers/redis.ts";
import { eventually } from "../helpers/server.ts";
import { fileTempDir } from "../helpers/tmp.ts";

// dropship-service as the emulator's droplets run it, in a network namespace of this test's
// own (tcp_migrate_req is a per-namespace setting, as it is per droplet), with the real proxy
// behind it and real traffic through a veth pair while the proxy is replaced.
const SCRIPT = resolve(import.meta.dir, "../../ansible/roles/dropship_host/files/dropship-service");
const ns = `dsho-${process.pid}`;
const subnet = `10.98.${process.pid % 250}`;
const outside = `${subnet}.1`;
const inside = `${subnet}.2`;
const [vethOut, vethIn] = [`dsho${process.pid % 100000}a`, `dsho${process.pid % 100000}b`];

run(["ip", "netns", "add", ns]);
afterAll(() => run(["ip", "netns", "del", ns], { allowFailure: true }));
run(["ip", "link", "add", vethOut, "type", "veth", "peer", "name", vethIn]);
run(["ip", "link", "set", vethIn, "netns", ns]);
run(["ip", "addr", "add", `${outside}/24`, "dev", vethOut]);
run(["ip", "link", "set", vethOut, "up"]);
const inNs = (...argv: string[]) => run(["ip", "netns", "exec", ns, ...argv]);
inNs("ip", "addr", "add", `${inside}/24`, "dev", vethIn);
inNs("ip", "link", "set", vethIn, "up");
inNs("ip", "link", "set", "lo", "up");
inNs("sysctl", "-q", "-w", "net.ipv4.tcp_migrate_req=1");

const redis = await startRedis({ bind: ["127.0.0.1", outside] });
const client = await connectTo(redis);
const upstream = Bun.serve({
  port: 0,
  hostname: outside,
  fetch: (request) =>
    new URL(request.url).pathname === "/healthz"
      ? Response.json({ status: "ok", version: "test" })
      : new Response("hello\n"),
});
afterAll(() => upstream.stop(true));
await addBackend(client, "production", `http://${outside}:${upstream.port}`);

const root = fileTempDir("dropship-service-");
const runDir = join(root, "run");
for (const folder of ["services", "shared", "logs"]) mkdirSync(join(root, folder));
writeFileSync(join(root, "proxy.yml"), "health: { interval: 200ms, timeout: 1s }\n");
writeFileSync(
  join(root, "services", "proxy.conf"),
  `SERVICE_EXEC='${process.execPath} ${resolve(import.meta.dir, "../../server/proxy/main.ts")}'\nSERVICE_USER=root\n`,
);
const proxyEnv = (redisUrl: string) =>
  writeFileSync(
    join(root, "shared", "proxy.env"),
    [
      "PORT=8080",
      "DROPSHIP_ADMIN_PORT=9090",
      "HOST=0.0.0.0",
      `REDIS_URL=${redisUrl}`,
      `DROPSHIP_ADMIN_TOKEN=${ADMIN_TOKEN}`,
      `DROPSHIP_CONFIG=${join(root, "proxy.yml")}`,
    ].join("\n"),
  );
proxyEnv(redis.url.replace("127.0.0.1", outside));

/** Runs the script in the namespace; asynchronously, so the load keeps flowing meanwhile. */
async function service(action: string) {
  const { code, stdout, stderr } = await runAsync(
    ["ip", "netns", "exec", ns, "sh", SCRIPT, action, "proxy"],
    { env: { ...process.env, DROPSHIP_ROOT: root, DROPSHIP_RUN: runDir } },
  );
  return { stdout, stderr, exitCode: code };
}
const pidOf = () => Number(readFileSync(join(runDir, "proxy.pid"), "utf8"));
const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};
afterAll(() => {
  for (const file of ["proxy.pid", "proxy.next.pid"]) {
    const path = join(runDir, file);
    if (existsSync(path)) {
      const pid = Number(readFileSync(path, "utf8"));
      if (alive(pid)) process.kill(pid, "SIGKILL");
    }
  }
});

const url = `http://${inside}:8080/`;

/**
 * Until `stop()`: keep-alive clients, clients opening a connection per request, and keep-alive
 * clients sending a body (the proxy's front passes their connections on to Bun.serve).
 */
function load() {
  let running = true;
  const outcome = { ok: 0, failed: [] as string[] };
  const kinds = [
    { headers: { connection: "close" } },
    {},
    { method: "POST", body: "order=1" },
  ] satisfies RequestInit[];
  const loop = async (init: RequestInit) => {
    while (running) {
      try {
        const response = await fetch(url, init);
        const body = await response.text();
        if (response.status === 200 && body === "hello\n") outcome.ok++;
        else outcome.failed.push(`HTTP ${response.status}`);
      } catch (error) {
        outcome.failed.push((error as Error).message);
      }
      // a visitor's pause between requests: its connection sits idle in it, as real ones do
      if (init.body) await Bun.sleep(5);
    }
  };
  const loops = [...Array(18)].map((_, i) => loop(kinds[i % kinds.length] as RequestInit));
  return {
    outcome,
    stop: async () => {
      running = false;
      await Promise.all(loops);
      return outcome;
    },
  };
}

test("start brings the proxy up under the service script", async () => {
  const started = await service("start");
  expect(started.stderr).toBe("");
  expect(started.exitCode).toBe(0);
  await eventually(async () => (await fetch(url).catch(() => undefined))?.status === 200, 15_000);
});

test("handover replaces the running proxy with no failed request under load", async () => {
  const before = pidOf();
  const traffic = load();
  await Bun.sleep(500);
  const handover = await service("handover");
  await Bun.sleep(500);
  const { ok, failed } = await traffic.stop();
  expect(handover.stderr).toBe("");
  expect(handover.exitCode).toBe(0);
  const after = pidOf();
  expect(handover.stdout).toContain(`handed over from ${before} to ${after}`);
  expect(after).not.toBe(before);
  expect(alive(before)).toBe(false);
  expect(alive(after)).toBe(true);
  expect(failed).toEqual([]);
  expect(ok).toBeGreaterThan(500);
  expect((await fetch(url)).status).toBe(200);
  // the script may wait 30 s for the new proxy to listen and 15 s for the old one to drain; a
  // CI run beside the demo's droplets took over 30 s (4–5 s on a quiet machine)
}, 90_000);

test("a new proxy that cannot start leaves the old one serving, and says where to look", async () => {
  const before = pidOf();
  proxyEnv("not-a-url"); // the next proxy refuses its settings and exits
  try {
    const handover = await service("handover");
    expect(handover.exitCode).toBe(4);
    expect(handover.stderr).toContain(
      `the new proxy did not listen on 8080 9090 within 30 s; the old one (${before}) keeps serving — see ${root}/logs/proxy.log`,
    );
    expect(pidOf()).toBe(before);
    expect(alive(before)).toBe(true);
    expect(existsSync(join(runDir, "proxy.next.pid"))).toBe(false);
    expect((await fetch(url)).status).toBe(200);
  } finally {
    proxyEnv(redis.url.replace("127.0.0.1", outside));
  }
}, 60_000);

// the proxy closes its idle kept-alive connections 1 s after SIGTERM, on a timer that ticks
// every 4 s: ~5 s in all, and the script allows 15 before it kills
test("stop ends the proxy", async () => {
  const pid = pidOf();
  expect((await service("stop")).exitCode).toBe(0);
  expect(alive(pid)).toBe(false);
}, 20_000);
