// lane: droplets-1 — its droplets boot on emulator network 1, in a droplet lane of its own
import { expect, test } from "bun:test";
import { readFileSync, readlinkSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { scaleIn, scaleOut } from "../../pipeline/scale.ts";
import { settingsLines } from "../../server/shared/app-settings.ts";
import { writeAppSettings } from "../../server/shared/config/env-file.ts";
import { validateConfig } from "../../server/shared/config/validate.ts";
import { KEYS } from "../../server/shared/state/keys.ts";
import { scalingFixture } from "../helpers/scaling.ts";
import { eventually } from "../helpers/server.ts";

const ROOT = resolve(import.meta.dir, "../..");
const {
  emulator,
  state,
  proxy,
  dir,
  account,
  provider,
  repo,
  lines,
  smtp,
  mailer,
  subjects,
  deps,
} = await scalingFixture("dropship-scale-", {
  name: "shop",
  roles: { production: { count: 1 } },
  autoscale: { min: 1, max: 2 },
  pipeline: { health_timeout: "15s" },
});

test("scale out adds a host that serves through the proxy and lands in an inventory commit", async () => {
  // the app's own settings (bun run env), as they are when the host is made
  deps.appSettings = join(dir, "app.env");
  writeAppSettings(deps.appSettings, settingsLines({ SENTRY_DSN: "https://k@sentry.example/1" }));
  const added = await scaleOut(deps, "proxy_cpu 78 > 50 for 60s");
  const onDroplet = join(emulator.dir, "droplets", String(added.dropletId));
  expect(readFileSync(join(onDroplet, "srv/dropship/shared/app.env"), "utf8")).toContain(
    "\nSENTRY_DSN=https://k@sentry.example/1\n",
  );
  // its droplet boots systemd: the app and the monitor are units, enabled for its next boot
  for (const service of ["app", "monitor"])
    expect(
      readlinkSync(
        join(onDroplet, `etc/systemd/system/multi-user.target.wants/dropship-${service}.service`),
      ),
    ).toBe(`/etc/systemd/system/dropship-${service}.service`);
  expect(added).toMatchObject({
    name: "shop-production-1",
    role: "production",
    release: "rel-1",
    size: "s-1vcpu-1gb",
  });
  const served = new Set<string>();
  const ask = async () => {
    const response = await fetch(`${proxy.url}/`);
    const body = await response.text();
    if (body.includes("on shop-production-1"))
      served.add(response.headers.get("x-dropship-backend") ?? "");
    return served.size > 0;
  };
  // on a busy machine a health check can take over its 1 s and put a host out for a moment
  await eventually(ask, 15_000, "an answer from shop-production-1 through the proxy");
  for (let i = 0; i < 20; i++) await ask();
  expect(served).toEqual(new Set([`${added.address}:3000`]));
  const [commit] = await repo.history();
  expect(commit?.message).toBe(
    `scale out: proxy_cpu 78 > 50 for 60s — added shop-production-1 (${added.address}, droplet ${added.dropletId})`,
  );
  expect((await provider.listByTag("dropship:production")).map((d) => d.name)).toEqual([
    "shop-production-1",
  ]);
  const [notice] = await smtp.waitFor(1, 10_000);
  expect(notice?.subject).toBe("[dropship] scale out: shop-production-1 added to production");
  expect(notice?.text).toContain("Why: proxy_cpu 78 > 50 for 60s");
  expect(notice?.text).toContain("Production now has 1 host; the fleet costs $0.0089/h");
}, 120_000);

test("the cap holds: a second host is added, a third is refused", async () => {
  await scaleOut(deps, "proxy_cpu 81 > 50 for 60s");
  await expect(scaleOut(deps, "proxy_cpu 90 > 50 for 60s")).rejects.toThrow(
    "refusing to add a host: production has 2, the cap (autoscale/max) is 2",
  );
  expect((await provider.listByTag("dropship:production")).length).toBe(2);
}, 120_000);

test("scale in drains and removes the newest host with no failed request", async () => {
  let stop = false;
  const outcomes: string[] = [];
  const load = Array.from({ length: 6 }, async () => {
    while (!stop) {
      const response = await fetch(`${proxy.url}/`).catch((e: Error) => e);
      if (response instanceof Error) {
        outcomes.push(response.message);
      } else {
        await response.text();
        outcomes.push(response.status === 200 ? "ok" : `HTTP ${response.status}`);
      }
    }
  });
  const removed = await scaleIn(deps, "proxy_cpu 8 < 20 for 60s", 1000);
  stop = true;
  await Promise.all(load);
  expect(removed.name).toBe("shop-production-2");
  await mailer.idle();
  expect(subjects()).toContain("[dropship] scale in: shop-production-2 removed from production");
  expect(outcomes.length).toBeGreaterThan(50);
  expect(outcomes.filter((o) => o !== "ok")).toEqual([]);
  expect((await provider.listByTag("dropship:production")).map((d) => d.name)).toEqual([
    "shop-production-1",
  ]);
  expect((await repo.read()).hosts.map((h) => h.name)).toEqual(["shop-production-1"]);
}, 120_000);

test("a provision that fails midway leaves no droplet and no inventory change", async () => {
  const before = (await repo.history()).length;
  await expect(scaleOut({ ...deps, playbookEnv: {} }, "proxy_cpu 95 > 50 for 60s")).rejects.toThrow(
    "product.yml failed",
  );
  expect(lines.some((l) => l.includes("undoing: deleting shop-production-2"))).toBe(true);
  expect((await provider.listByTag("dropship:production")).map((d) => d.name)).toEqual([
    "shop-production-1",
  ]);
  expect((await repo.history()).length).toBe(before);
  await mailer.idle();
  expect(subjects()).toContain("[dropship] scale out failed: shop-production-2 was not added");
  const log = Bun.spawnSync(["git", "-C", join(dir, "inventory"), "log", "--format=%s"])
    .stdout.toString()
    .trim()
    .split("\n");
  expect(log.map((l) => l.split(" — ")[0])).toEqual([
    "scale in: proxy_cpu 8 < 20 for 60s",
    "scale out: proxy_cpu 81 > 50 for 60s",
    "scale out: proxy_cpu 78 > 50 for 60s",
  ]);
}, 120_000);

/** A one-host shop config in a file of its own, and `bun run scale` run with it against the API. */
function scaleCommand(name: string) {
  const file = join(dir, name);
  writeFileSync(
    file,
    `name: shop\nroles: { production: { count: 1 } }\nautoscale: { min: 1, max: 2 }\ngitops: { repo: ${join(dir, "inventory")} }\n`,
  );
  const scale = (...args: string[]) => {
    const proc = Bun.spawnSync([process.execPath, join(ROOT, "scripts/scale.ts"), ...args], {
      env: {
        PATH: process.env.PATH ?? "",
        DROPSHIP_CONFIG: file,
        DIGITALOCEAN_TOKEN: emulator.token,
        DIGITALOCEAN_API_URL: emulator.apiUrl,
      },
      stdout: "pipe",
      stderr: "pipe",
    });
    return { code: proc.exitCode, output: proc.stdout.toString() + proc.stderr.toString() };
  };
  return { file, scale };
}

test("bun run scale --dry-run prints the plan and the fleet's cost, and refuses past the cap", async () => {
  const { file, scale } = scaleCommand("dropship.yml");
  // stdout, then stderr, where every command says which config it read
  const said = `config: ${file} (DROPSHIP_CONFIG)\n`;
  expect(scale("--dry-run")).toEqual({
    code: 0,
    output: `production: 1 → 2 hosts (s-1vcpu-1gb); fleet cost $0.0089/h (~$6/month) → $0.0179/h (~$12/month)\n${said}`,
  });
  expect(scale("--to", "3", "--dry-run")).toEqual({
    code: 1,
    output: `${said}dropship scale: 3 production hosts is above autoscale/max (2); raise the cap in the config first\n`,
  });
  expect(scale("--to", "1", "--dry-run").output).toContain("production: 1 → 1 host (s-1vcpu-1gb)");
  expect(scale("--down", "--dry-run").output).toContain("below autoscale/min (1)");
  // what asks for no change says so, and changes nothing
  expect(scale("--to", "1")).toMatchObject({ code: 0 });
  expect(scale("--to", "1").output).toContain(
    "production: 1 → 1 host (s-1vcpu-1gb); fleet cost $0.0089/h (~$6/month) → $0.0089/h (~$6/month)\nnothing to change: production has 1 host\n",
  );
  const none = scale("--count", "0");
  expect(none.code).toBe(2);
  expect(none.output).toContain(
    "dropship scale: --count 0 adds nothing — give 1 or more, or --down to remove one",
  );
  expect((await repo.read()).hosts.length).toBe(1);
});

test("sustained proxy CPU makes the autoscaler add exactly one host per cooldown, never past max", async () => {
  const { startAutoscaler } = await import("../../server/receiver/autoscaler.ts");
  const { reportHost } = await import("../../server/shared/state/hosts.ts");
  const fast = validateConfig({
    name: "shop",
    roles: { production: { count: 1 } },
    autoscale: { min: 1, max: 2, for: "1s", cooldown: "1h" },
    pipeline: { health_timeout: "15s" },
  });
  if (!fast.ok) throw new Error(fast.errors.join("\n"));
  // the earlier tests' scaling actions would start the cooldown, as any action by hand does
  await state.del(KEYS.scaling);
  const said: string[] = [];
  const autoscaler = startAutoscaler(
    { ...deps, config: fast.config, say: (l) => said.push(l) },
    200,
  );
  const hot = setInterval(() => {
    void reportHost(state, {
      host: "shop-proxy-1",
      role: "proxy",
      cpu: 93,
      memory: 20,
      at: Date.now(),
      release: "rel-1",
    });
  }, 100);
  const started = performance.now();
  try {
    while ((await repo.read()).hosts.length < 2 && performance.now() - started < 60_000)
      await Bun.sleep(200);
    const addedAfter = performance.now() - started;
    await Bun.sleep(3000);
    expect((await repo.read()).hosts.length).toBe(2);
    expect(
      said.filter((l) => l.startsWith("autoscaler: scale out: proxy_cpu 93 > 50 for")),
    ).toHaveLength(1);
    expect(
      said.some(
        (l) => l.startsWith("autoscaler: cooling down:") || l.startsWith("autoscaler: at max:"),
      ),
    ).toBe(true);
    console.log(
      `autoscaler: trigger → new host serving in ${(addedAfter / 1000).toFixed(1)} s (1 s sustained window included)`,
    );
  } finally {
    clearInterval(hot);
    autoscaler.stop();
  }
}, 90_000);

test("a tagged droplet the inventory does not know is reported, and deleted when told", async () => {
  const { file, scale } = scaleCommand("reconcile.yml");
  const key = await provider.ensureSshKey("stray", account.publicKey);
  const stray = await provider.createDroplet({
    name: "stray-1",
    region: "nyc3",
    size: "s-1vcpu-1gb",
    image: "debian-12-x64",
    sshKeys: [key.id],
    tags: ["dropship"],
  });
  const report = scale("--reconcile");
  expect(report.code).toBe(0);
  expect(report.output).toContain(`! orphan stray-1 (droplet ${stray.id}`);
  expect(report.output).not.toContain("shop-production-");
  expect(scale("--reconcile", "--delete").output).toContain(
    `✗ orphan stray-1 (droplet ${stray.id}) deleted`,
  );
  const known = (await repo.read()).hosts.map((h) => h.name).sort();
  expect((await provider.listByTag("dropship")).map((d) => d.name).sort()).toEqual(known);
  expect(scale("--reconcile").output).toBe(
    `no orphans: every tagged droplet is in the inventory\nconfig: ${file} (DROPSHIP_CONFIG)\n`,
  );
});

test("provisions failing in a row open the circuit breaker: a mail at the first failure and one when it stops, then no more tries", async () => {
  const mailedBefore = subjects().length;
  const { startAutoscaler } = await import("../../server/receiver/autoscaler.ts");
  const { reportHost } = await import("../../server/shared/state/hosts.ts");
  const brittle = validateConfig({
    name: "shop",
    roles: { production: { count: 1 } },
    autoscale: { min: 1, max: 3, for: "1s", cooldown: "1s", max_failures: 2 },
    pipeline: { health_timeout: "15s" },
  });
  if (!brittle.ok) throw new Error(brittle.errors.join("\n"));
  const said: string[] = [];
  // no REDIS_URL for the playbook: every converge fails, as a broken provisioning would
  const autoscaler = startAutoscaler(
    { ...deps, config: brittle.config, playbookEnv: {}, say: (l) => said.push(l) },
    200,
  );
  const hot = setInterval(() => {
    void reportHost(state, {
      host: "shop-proxy-1",
      role: "proxy",
      cpu: 97,
      memory: 20,
      at: Date.now(),
      release: "rel-1",
    });
  }, 100);
  try {
    const started = performance.now();
    while (
      !said.some((l) => l.startsWith("autoscaler: stopped:")) &&
      performance.now() - started < 100_000
    )
      await Bun.sleep(200);
    await Bun.sleep(2000);
    expect(said.filter((l) => l.startsWith("autoscaler: add failed"))).toHaveLength(2);
    expect(
      said.filter((l) => l.startsWith("autoscaler: stopped: 2 failed provisions")),
    ).toHaveLength(1);
    await mailer.idle();
    // two failures, two lines in the log, but the second failure's mail would say nothing new
    expect(
      subjects()
        .slice(mailedBefore)
        .map((s) => s.replace(/shop-production-\d+/, "HOST")),
    ).toEqual([
      "[dropship] scale out failed: HOST was not added",
      "[dropship] autoscaler stopped after 2 failed provisions",
    ]);
    const failed = smtp.mails[mailedBefore];
    expect(failed?.text).toContain(
      "when it stops after 2 failures in a row (autoscale/max_failures)",
    );
    expect((await provider.listByTag("dropship:production")).length).toBe(
      (await repo.read()).hosts.length,
    );
  } finally {
    clearInterval(hot);
    autoscaler.stop();
  }
}, 120_000);

test("requests per host is every fresh proxy's rate over the production hosts", async () => {
  const { readMetric } = await import("../../server/receiver/autoscaler.ts");
  const { reportTraffic } = await import("../../server/shared/state/traffic.ts");
  const rps = validateConfig({ name: "shop", autoscale: { metric: "rps_per_host", min: 1 } });
  if (!rps.ok) throw new Error(rps.errors.join("\n"));
  const now = Date.now();
  await reportTraffic(state, { proxy: "shop-proxy-1:80", rps: 120, at: now });
  await reportTraffic(state, { proxy: "shop-proxy-2:80", rps: 80, at: now });
  await reportTraffic(state, { proxy: "shop-proxy-old:80", rps: 5000, at: now - 120_000 });
  expect(await readMetric(deps, rps.config, 2)).toBe(100);
  expect(await readMetric(deps, rps.config, 0)).toBeUndefined();
});
