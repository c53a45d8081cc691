import { expect, test } from "bun:test";
import { join, resolve } from "node:path";
import { addHost, EMPTY, type FleetHostRecord } from "../../gitops/model.ts";
import { InventoryRepo } from "../../gitops/repo.ts";
import { runAsync } from "../../server/shared/proc.ts";
import { freePort } from "../helpers/ports.ts";
import { ADMIN_TOKEN, addBackend, startProxy } from "../helpers/proxy.ts";
import { connectTo, startRedis } from "../helpers/redis.ts";
import { eventually } from "../helpers/server.ts";
import { tempDir } from "../helpers/tmp.ts";

// bun run status with two proxies, as demo --ha and roles.proxy.count: 2 have them: each proxy
// has requests in flight of its own, so the HOSTS table must ask every proxy of the inventory,
// not the one DASHBOARD_URL was written for — which may since have died and been replaced.
const ROOT = resolve(import.meta.dir, "../..");
const redis = await startRedis();
const state = await connectTo(redis);

// an app host on an address of its own, whose /hold answers once the test lets it
let release: () => void = () => {};
let held = new Promise<void>((resolve) => {
  release = resolve;
});
const app = Bun.serve({
  hostname: "127.0.0.4",
  port: 0,
  // Bun closes a request's connection after 10 s without an answer: the proxies would count
  // that as the host's fault
  idleTimeout: 0,
  async fetch(request) {
    if (new URL(request.url).pathname === "/healthz")
      return Response.json({ status: "ok", version: "rel-1" });
    await held;
    return new Response("done");
  },
});
await addBackend(state, "production", `http://127.0.0.4:${app.port}`);
// one proxy per address, both with their admin listener on the same port, as on droplets; one
// process each, so that killing it is losing the droplet
const adminPort = freePort();
const proxies = await Promise.all(
  ["127.0.0.2", "127.0.0.3"].map((address) =>
    startProxy(redis, "health: { interval: 200ms, timeout: 1s }\nproxy: { workers: 1 }\n", {
      HOST: address,
      DROPSHIP_ADMIN_PORT: String(adminPort),
    }),
  ),
);

const dir = tempDir("dropship-status-");
const repo = new InventoryRepo(join(dir, "inventory"));
const host = (name: string, role: FleetHostRecord["role"], address: string): FleetHostRecord => ({
  name,
  role,
  dropletId: 1,
  address,
  region: "nyc3",
  size: "s-1vcpu-1gb",
  created: "2026-12-07T06:00:00Z",
});
let fleet = EMPTY;
for (const h of [
  host("shop-proxy-1", "proxy", "127.0.0.2"),
  host("shop-proxy-2", "proxy", "127.0.0.3"),
  host("shop-production-1", "production", "127.0.0.4"),
])
  fleet = addHost(fleet, h);
await repo.commit(fleet, "two proxies and an app host");

/** bun run status, spawned without blocking: the app host the proxies check lives in this process. */
async function status(env: Record<string, string>): Promise<string> {
  const { code, stdout, stderr } = await runAsync(
    [process.execPath, resolve(ROOT, "scripts/status.ts")],
    {
      cwd: dir,
      env: {
        PATH: process.env.PATH ?? "",
        REDIS_URL: redis.url,
        DROPSHIP_GITOPS_REPO: repo.dir,
        DROPSHIP_WORK: join(dir, "work"),
        DROPSHIP_BACKUPS: join(dir, "backups"),
        DROPSHIP_ADMIN_TOKEN: ADMIN_TOKEN,
        // the port every proxy's admin listener has here; on droplets it is 9090
        DROPSHIP_ADMIN_PORT: String(adminPort),
        ...env,
      },
    },
  );
  expect({ code, stderr: code === 0 ? "" : stderr }).toEqual({ code: 0, stderr: "" });
  return stdout;
}

const appRow = (out: string) =>
  /^shop-production-1\s+production\s+127\.0\.0\.4\s+\S+\s+(\S+(?: \S+)?)\s+(\S+)\s+(\S+)/m
    .exec(out)
    ?.slice(1, 4);

test("the app host's requests in flight are summed over every proxy, and a dead proxy is named", async () => {
  // one request held through the first proxy, two through the second (the first's fails
  // when it is killed)
  const through = (address: string, proxy: (typeof proxies)[number] | undefined) =>
    fetch(`${proxy?.url.replace("127.0.0.1", address)}/hold`).catch(() => undefined);
  const requests = [
    through("127.0.0.2", proxies[0]),
    through("127.0.0.3", proxies[1]),
    through("127.0.0.3", proxies[1]),
  ];
  try {
    await eventually(
      async () => appRow(await status({}))?.[2] === "3",
      10_000,
      "three requests in flight",
    );
    // DASHBOARD_URL as setup wrote it, naming the first proxy: the second's are counted too
    const dashboard = `http://127.0.0.2:${adminPort}/_dropship/`;
    expect(appRow(await status({ DASHBOARD_URL: dashboard }))).toEqual([
      "in rotation",
      "healthy",
      "3",
    ]);
    // the first proxy's droplet gone, and a third, which never answers, in the inventory:
    // each is said, and the answering one's view stands
    process.kill(proxies[0]?.pid as number, "SIGKILL");
    await repo.commit(
      addHost(fleet, host("shop-proxy-3", "proxy", "127.0.0.6")),
      "a third proxy, still booting",
    );
    const out = await status({ DASHBOARD_URL: dashboard });
    expect(appRow(out)).toEqual(["in rotation", "healthy", "2"]);
    expect(out).toContain(
      `(shop-proxy-1's admin listener at http://127.0.0.2:${adminPort} did not answer (`,
    );
    expect(out).toContain(
      `(shop-proxy-3's admin listener at http://127.0.0.6:${adminPort} did not answer (`,
    );
  } finally {
    release();
    await Promise.allSettled(requests);
  }
});

test("without proxies in the inventory it asks DASHBOARD_URL, as before", async () => {
  await repo.commit(
    { ...fleet, hosts: fleet.hosts.filter((h) => h.role !== "proxy") },
    "proxies not managed here",
  );
  held = new Promise<void>((resolve) => {
    release = resolve;
  });
  const request = fetch(`${proxies[1]?.url.replace("127.0.0.1", "127.0.0.3")}/hold`).catch(
    () => undefined,
  );
  try {
    const dashboard = `http://127.0.0.3:${adminPort}/_dropship/`;
    await eventually(
      async () => appRow(await status({ DASHBOARD_URL: dashboard }))?.[2] === "1",
      10_000,
      "one request in flight",
    );
    expect(await status({})).toContain(
      "(health and in-flight need DASHBOARD_URL (or PROXY_URL) and DROPSHIP_ADMIN_TOKEN)",
    );
    // an HTTPS admin listener with a CA file that is not there: said, and the rest shown
    const noCa = await status({
      DASHBOARD_URL: `https://127.0.0.3:${adminPort}/_dropship/`,
      DROPSHIP_CA_FILE: join(dir, "missing-ca.pem"),
    });
    expect(noCa).toContain(`(DROPSHIP_CA_FILE ${join(dir, "missing-ca.pem")} cannot be read (`);
    expect(noCa).toContain("CANARY  weight 30%");
  } finally {
    release();
    await request;
  }
});
