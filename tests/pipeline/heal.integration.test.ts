import { afterAll, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import type { FleetHostRecord } from "../../gitops/model.ts";
import { scaleOut } from "../../pipeline/scale.ts";
import { breakerFor } from "../../server/receiver/autoscaler.ts";
import { probeHealth, startHealer } from "../../server/receiver/healer.ts";
import { hostCommands } from "../../server/shared/host/layout.ts";
import { targetOf, withSsh } from "../../server/shared/ssh.ts";
import { KEYS } from "../../server/shared/state/keys.ts";
import { listBackends } from "../../server/shared/state/routing.ts";
import { scalingFixture } from "../helpers/scaling.ts";

// Self-healing on emulator hosts: real droplets deleted through the API, real services stopped
// over SSH, real playbooks converging the replacements, the proxy's rotation in a real Redis.
const { state, proxy, provider, repo, lines, smtp, mailer, subjects, deps } = await scalingFixture(
  "dropship-heal-",
  {
    name: "shop",
    roles: { production: { count: 1 } },
    autoscale: { min: 1, max: 3, max_failures: 2 },
    heal: { after: "3s" },
    pipeline: { health_timeout: "15s" },
  },
);
const healers: ReturnType<typeof startHealer>[] = [];
afterAll(() => {
  for (const healer of healers) healer.stop();
});

const first = await scaleOut(deps, "a fleet to heal");
const second = await scaleOut(deps, "a fleet to heal");

/** Runs a command on a host over SSH, logged in as the fleet does. */
async function onHost(host: FleetHostRecord, command: string): Promise<string> {
  const line = readFileSync(deps.knownHostsFile, "utf8")
    .split("\n")
    .find((l) => l.startsWith(`${host.address} `)) as string;
  const hostPublicKey = line.split(" ").slice(1, 3).join(" ");
  return withSsh(targetOf({ address: host.address, hostPublicKey }, deps), (ssh) =>
    ssh.check(command),
  );
}

const inventoryNames = async () => (await repo.read()).hosts.map((h) => h.name).sort();
const backendHosts = async () =>
  (await listBackends(state)).map((b) => new URL(b.url).hostname).sort();

async function until(what: string, ms: number, done: () => Promise<boolean>) {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await done()) return;
    await Bun.sleep(200);
  }
  throw new Error(`${what} did not happen within ${ms} ms:\n${lines.slice(-20).join("\n")}`);
}

/**
 * Watches the heal's mark on a host (KEYS.replacing: while set, no monitor raises the host's
 * silence) until `stop()`, which answers every value it had, in order.
 */
function watchMark(host: string) {
  const values: string[] = [];
  let stopped = false;
  const watching = (async () => {
    while (!stopped) {
      const value = await state.get(KEYS.replacing(host));
      if (value !== null && values.at(-1) !== value) values.push(value);
      await Bun.sleep(100);
    }
  })();
  return {
    stop: async () => {
      stopped = true;
      await watching;
      return values;
    },
  };
}

test("a replacement that keeps failing leaves no droplet, opens the breaker and mails once", async () => {
  const mark = watchMark(second.name);
  await provider.deleteDroplet(second.dropletId, second.name);
  const broken = { ...deps, playbookEnv: {} }; // product.yml refuses to run without REDIS_URL
  const breaker = breakerFor(broken);
  const healer = startHealer(broken, breaker, 300);
  healers.push(healer);
  await until("the breaker opening", 90_000, async () => breaker.open);
  await healer.idle();
  await Bun.sleep(1500); // ticks go on: nothing more is tried
  healer.stop();
  expect(
    lines.filter((l) => l.startsWith("heal: replacing shop-production-2 failed")),
  ).toHaveLength(2);
  await mailer.idle();
  expect(subjects().filter((s) => s.includes("stopped"))).toEqual([
    "[dropship] autoscaler stopped after 2 failed provisions",
  ]);
  // no orphan, and the inventory as it was
  expect((await provider.listByTag("dropship:production")).map((d) => d.name)).toEqual([
    first.name,
  ]);
  expect(await inventoryNames()).toEqual([first.name, second.name]);
  // marked while each attempt ran, so no monitor mailed its silence; no more once they failed
  expect(await mark.stop()).toEqual(["gone from the cloud API"]);
  expect(await state.exists(KEYS.replacing(second.name))).toBe(0);
}, 120_000);

test("a droplet gone from the API is replaced: rotation swapped, one commit, one notice", async () => {
  // health checks that wait for a gate, to hold one tick between its reading and its judging
  let gate = Promise.resolve();
  let open = () => {};
  const probed: string[] = [];
  const probe = async (url: string) => {
    probed.push(new URL(url).hostname);
    await gate;
    return probeHealth(url);
  };
  // ticked by hand: one listing without the droplet, and the API's 404 for it, are enough
  const healer = startHealer(deps, breakerFor(deps), 3_600_000, probe);
  healers.push(healer);
  const mark = watchMark(second.name);
  // meanwhile the first host's monitor stops: silent, but it serves, so it stays
  await onHost(first, hostCommands.service("stop", "monitor"));
  await healer.tick();
  // a tick that reads the fleet before the replacement's commit and judges it after: the
  // replaced host is not planned again
  gate = new Promise((resolve) => {
    open = resolve;
  });
  const late = healer.tick();
  await Bun.sleep(500);
  await healer.idle();
  open();
  await late;
  await healer.idle();
  expect(lines.filter((l) => l.includes("left the inventory meanwhile"))).toEqual([]);
  // the API's 404 is enough: the gone droplet is not probed (its timeout would hold the tick)
  expect(probed).toContain(first.address);
  expect(probed).not.toContain(second.address);
  const [commit] = await repo.history();
  expect(commit?.message).toBe(
    "heal: replaced shop-production-2 (gone from the cloud API) with shop-production-3",
  );
  const inventory = await repo.read();
  const third = inventory.hosts.find((h) => h.name === "shop-production-3") as FleetHostRecord;
  expect(third).toMatchObject({ role: "production", release: "rel-1" });
  expect(await inventoryNames()).toEqual([first.name, "shop-production-3"]);
  expect(await backendHosts()).toEqual([first.address, third.address].sort());
  // the dead host's figures went with it: no monitor goes on reporting it silent; it was
  // marked as being replaced meanwhile, and the mark went with the figures
  expect(
    await state.exists(
      KEYS.host("shop-production-2"),
      KEYS.history("shop-production-2"),
      KEYS.replacing("shop-production-2"),
    ),
  ).toBe(0);
  expect(await mark.stop()).toEqual(["gone from the cloud API"]);
  const served = new Set<string>();
  for (let i = 0; i < 20; i++) {
    const response = await fetch(`${proxy.url}/`);
    await response.text();
    served.add(response.headers.get("x-dropship-backend") ?? "");
  }
  expect(served.has(`${third.address}:3000`)).toBe(true);
  await mailer.idle();
  const notice = smtp.mails.find((m) => m.subject?.startsWith("[dropship] heal:"));
  expect(notice?.subject).toBe("[dropship] heal: shop-production-2 replaced by shop-production-3");
  expect(notice?.text).toContain("was gone from the cloud API");
  // well past heal.after, ticking all along, the host whose monitor stopped is still there
  for (const started = Date.now(); Date.now() - started < 4000; await Bun.sleep(300))
    await healer.tick();
  await healer.idle();
  expect(await inventoryNames()).toEqual([first.name, "shop-production-3"]);
  expect(lines.some((l) => l.includes(`replacing ${first.name}`))).toBe(false);
  healer.stop();
}, 150_000);

test("a droplet still there but silent is replaced, and the old one deleted", async () => {
  const third = (await repo.read()).hosts.find(
    (h) => h.name === "shop-production-3",
  ) as FleetHostRecord;
  const commits = (await repo.history()).length;
  const healer = startHealer(deps, breakerFor(deps), 300);
  healers.push(healer);
  await onHost(
    third,
    `${hostCommands.service("stop", "monitor")}; ${hostCommands.service("stop", "app")}`,
  );
  await until(
    "the replacement commit",
    90_000,
    async () => (await repo.history()).length > commits,
  );
  await healer.idle();
  healer.stop();
  const [commit] = await repo.history();
  expect(commit?.message).toBe(
    // the next free name: shop-production-2 went with the first replacement
    "heal: replaced shop-production-3 (silent for 3 s: no monitor figures and its health check failing) with shop-production-2",
  );
  expect((await provider.listByTag("dropship:production")).map((d) => d.name).sort()).toEqual([
    first.name,
    "shop-production-2",
  ]);
  expect(await inventoryNames()).toEqual([first.name, "shop-production-2"]);
}, 150_000);
