/**
 * Losing a droplet under load, on `bun run demo --ha`: steady HTTPS requests through the public
 * entry (the load balancer) to /recent (which reads Redis), then a proxy droplet, a production
 * droplet and the Redis primary's droplet deleted through the API, each `rounds` times. Per
 * round: requests that failed, how long after the deletion the last failure came (full
 * service again), and how long until self-healing committed the replacement (the fleet whole
 * again); for Redis also how long until a flag change worked again, and whether every change
 * acknowledged before the loss was still there after it. One droplet at a time: each round
 * starts once the Sentinels are whole again after the last. Needs root (the emulator).
 *
 *   bun bench/failover.ts [rounds=3] [clients=8] [roles=proxy,production,redis]
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { InventoryRepo } from "../gitops/repo.ts";
import { parseEnvFile } from "../scripts/lib/load.ts";
import { changeFlag, listFlags } from "../server/shared/state/flags.ts";
import { connectRedis, whenReady } from "../server/shared/state/redis.ts";
import { findPrimary, livePeers } from "../server/shared/state/sentinel.ts";
import { watchSentinelEvents } from "../server/shared/state/sentinel-events.ts";
import { SENTINEL_PORT, sentinelHosts } from "../server/shared/state/sentinel-fleet.ts";
import { parseSentinelUrl } from "../server/shared/state/sentinel-url.ts";
import { cleanup, demoRunner, median, workDir } from "./lib.ts";

const rounds = Number(process.argv[2] ?? 3);
const clients = Number(process.argv[3] ?? 8);
const roles = (process.argv[4] ?? "proxy,production,redis").split(",");
const demoDir = join(workDir, "demo");
const { demo } = demoRunner(demoDir);

interface Round {
  role: string;
  failed: number;
  ok: number;
  inFlightAtDelete: number;
  lastFailureMs: number | null;
  healedMs: number;
  /** each failure: ms after the deletion and what it was */
  failures: string[];
  /** Redis: when a flag change worked again, and whether the acknowledged ones survived */
  changedAfterMs?: number;
  ackedKept?: boolean;
  /** Redis: the Sentinels' candidacies, and those that failed for want of a majority */
  elections?: { tries: number; notElected: number };
}

try {
  const up = demo(["--ha", "--detach"]);
  if (up.exitCode !== 0) throw new Error(`the demo did not come up:\n${up.stdout}${up.stderr}`);
  const env = parseEnvFile(readFileSync(join(demoDir, "demo.env"), "utf8"));
  const entry = new URL(env.PROXY_URL as string).hostname;
  const ca = readFileSync(env.DROPSHIP_CA_FILE as string, "utf8");
  const api = env.DIGITALOCEAN_API_URL as string;
  const auth = { authorization: `Bearer ${env.DIGITALOCEAN_TOKEN}` };
  const repo = new InventoryRepo(env.GITOPS_REPO as string);
  const request = (fresh: boolean) =>
    fetch(`https://${entry}/recent`, {
      headers: { host: env.DROPSHIP_DOMAIN as string },
      tls: { ca, serverName: env.DROPSHIP_DOMAIN as string },
      ...(fresh ? { keepalive: false } : {}),
    } as RequestInit);
  const deadline = Date.now() + 120_000;
  while ((await request(true).catch(() => undefined))?.status !== 200) {
    if (Date.now() > deadline) throw new Error("HTTPS through the load balancer did not serve");
    await Bun.sleep(500);
  }

  // flag changes as the CLI makes them, through the Sentinels
  const control = connectRedis(env.REDIS_URL as string, {
    purpose: "bench",
    persistent: true,
    log: () => {},
  });
  await whenReady(control, env.REDIS_URL as string, 10_000);
  const changeSome = async (round: number) => {
    const names = Array.from({ length: 20 }, (_, i) => `bench-${round}-${i}`);
    for (const name of names)
      await changeFlag(control, name, { enabled: true, rollout: 100 }, "bench", "create");
    return names;
  };
  const untilChangesWork = async (from: number) => {
    for (;;) {
      try {
        await changeFlag(
          control,
          "bench-after",
          { enabled: true, rollout: 100 },
          "bench",
          "create",
        );
        return performance.now() - from;
      } catch {
        await Bun.sleep(100);
      }
    }
  };

  /** The Sentinels of the inventory's hosts now (the setup-time URL names those of then). */
  const sentinelsNow = (inventory: { hosts: Parameters<typeof sentinelHosts>[0] }) => {
    const target = parseSentinelUrl(env.REDIS_URL as string);
    target.sentinels = sentinelHosts(inventory.hosts).map((h) => ({
      host: h.address,
      port: SENTINEL_PORT,
    }));
    return target;
  };

  /**
   * One droplet at a time, as the issue asks: a round starts once the fleet is whole again —
   * every Sentinel knowing every other live one and the replica, and none listed down (after a
   * replacement the heal resets them one by one in the background, up to a couple of minutes).
   */
  const untilSentinelsWhole = async () => {
    const started = performance.now();
    for (;;) {
      const target = sentinelsNow(await repo.read());
      const peers = await Promise.all(target.sentinels.map((s) => livePeers(s, target)));
      const others = target.sentinels.length - 1;
      if (peers.every((p) => p?.down === 0 && p.sentinels === others && p.replicas === 1)) return;
      if (performance.now() - started > 240_000) {
        console.log("  (the Sentinels were not whole after 240 s; going on)");
        return;
      }
      await Bun.sleep(1000);
    }
  };

  const results: Round[] = [];
  for (const role of roles) {
    for (let round = 1; round <= rounds; round++) {
      await untilSentinelsWhole();
      const primary =
        // the Sentinels there are now: by round 3 every one the setup-time URL names may be gone
        role === "redis" ? (await findPrimary(sentinelsNow(await repo.read()))).host : "";
      const victim = (await repo.read()).hosts.find(
        (h) => h.role === role && (role !== "redis" || h.address === primary),
      );
      if (!victim) throw new Error(`no ${role} host left`);
      const lastBefore = (await repo.history(1))[0]?.sha;
      let ok = 0;
      let failed = 0;
      let inFlight = 0;
      let inFlightAtDelete = 0;
      let deletedAt = 0;
      let lastFailure: number | null = null;
      const failures: string[] = [];
      let stop = false;
      const load = Array.from({ length: clients }, async (_, i) => {
        while (!stop) {
          inFlight++;
          try {
            const response = await request(i % 2 === 0);
            await response.text();
            if (response.status === 200) ok++;
            else throw new Error(String(response.status));
          } catch (error) {
            failed++;
            if (deletedAt) lastFailure = performance.now() - deletedAt;
            failures.push(
              `${deletedAt ? Math.round(performance.now() - deletedAt) : "before"} ms: ${(error as Error).message.slice(0, 80)}`,
            );
          } finally {
            inFlight--;
          }
        }
      });
      const elections =
        role === "redis" ? watchSentinelEvents(sentinelsNow(await repo.read())) : undefined;
      await Bun.sleep(1000);
      deletedAt = performance.now();
      inFlightAtDelete = inFlight;
      const acked = role === "redis" ? await changeSome(round) : [];
      await fetch(`${api}/droplets/${victim.dropletId}`, { method: "DELETE", headers: auth });
      const changed = role === "redis" ? untilChangesWork(deletedAt) : undefined;
      // the heal's commit, among those after the deletion (the demo's autoscaler may commit
      // scaling steps meanwhile; history() gives the newest 50, so counting them would not do)
      const healed = async () => {
        const history = await repo.history();
        const newer = history.slice(
          0,
          history.findIndex((c) => c.sha === lastBefore),
        );
        return newer.some((c) => c.message.startsWith(`heal: replaced ${victim.name} `));
      };
      while (!(await healed())) {
        if (performance.now() - deletedAt > 240_000)
          throw new Error(`${victim.name} was not replaced`);
        await Bun.sleep(250);
      }
      const healedMs = performance.now() - deletedAt;
      stop = true;
      await Promise.all(load);
      const changedAfterMs = await changed;
      const names = role === "redis" ? (await listFlags(control)).map((f) => f.name) : [];
      elections?.stop();
      const result = {
        role,
        failed,
        ok,
        inFlightAtDelete,
        lastFailureMs: lastFailure,
        healedMs,
        failures,
        ...(role === "redis"
          ? {
              changedAfterMs,
              ackedKept: acked.every((name) => names.includes(name)),
              elections: elections?.elections(),
            }
          : {}),
      };
      results.push(result);
      console.log(
        `${role} round ${round}: ${victim.name} deleted with ${inFlightAtDelete} in flight — ${failed} failed of ${ok + failed}, last failure ${lastFailure === null ? "none" : `${Math.round(lastFailure)} ms`} after, replaced with a commit after ${(healedMs / 1000).toFixed(1)} s${role === "redis" ? `; flag changes worked again after ${((changedAfterMs ?? 0) / 1000).toFixed(1)} s; ${acked.length} acknowledged changes ${result.ackedKept ? "all kept" : "NOT all kept"}; Sentinel candidacies ${result.elections?.tries}, not elected ${result.elections?.notElected}` : ""}`,
      );
      for (const failure of failures.slice(0, 12)) console.log(`  ${failure}`);
      if ((changedAfterMs ?? 0) > 15_000)
        for (const line of elections?.story(deletedAt) ?? []) console.log(`  ${line}`);
    }
  }
  // a persistent client keeps retrying its Sentinels once the demo is down, and the process alive
  control.disconnect();
  console.log(
    "\n| droplet deleted | failed requests (per round) | last failure after | replaced, with a commit, after (median) |",
  );
  console.log("|---|---|---|---|");
  for (const role of roles) {
    const mine = results.filter((r) => r.role === role);
    const last = mine.map((r) =>
      r.lastFailureMs === null ? "none" : `${Math.round(r.lastFailureMs)} ms`,
    );
    console.log(
      `| ${role} | ${mine.map((r) => `${r.failed} of ${r.ok + r.failed} (${r.inFlightAtDelete} in flight)`).join("; ")} | ${last.join("; ")} | ${(median(mine.map((r) => r.healedMs)) / 1000).toFixed(1)} s |`,
    );
  }
} finally {
  demo(["--down"]);
  await cleanup();
}
