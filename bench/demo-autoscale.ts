/**
 * The demo's autoscaler end to end, on droplets limited to their size (issue 20): `bun run
 * demo --detach`, then `rounds` times a bounded `bun run load` through the entry. Per round:
 * load start → the autoscaler's decision (trigger), trigger → the new production droplet
 * answering visitors through the proxy (serving), trigger → its commit, load end → the
 * scale-in commit, failed requests, and the proxy droplet's CPU as its own monitor saw it.
 * Needs root (the emulator).
 *
 *   bun bench/demo-autoscale.ts [rounds=2] [load=40s]
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parseEnvFile } from "../scripts/lib/load.ts";
import { cleanup, demoRunner, median, ROOT, workDir } from "./lib.ts";

const rounds = Number(process.argv[2] ?? 2);
const loadFor = process.argv[3] ?? "40s";
const demoDir = join(workDir, "demo");
const { demo, env } = demoRunner(demoDir);

interface Round {
  triggerMs: number;
  servingMs: number;
  commitMs: number;
  scaleInMs: number;
  requests: number;
  failed: number;
  peakProxyCpu: number;
}

try {
  const up = demo(["--detach"]);
  if (up.exitCode !== 0) throw new Error(`the demo did not come up:\n${up.stdout}${up.stderr}`);
  if (!up.stdout.toString().includes("autoscaler on"))
    throw new Error(
      "the demo's autoscaler is off here: droplets cannot be limited on this machine",
    );
  const settings = parseEnvFile(readFileSync(join(demoDir, "demo.env"), "utf8"));
  const entry = new URL(settings.PROXY_URL as string).hostname;
  const ca = readFileSync(settings.DROPSHIP_CA_FILE as string, "utf8");
  const receiverLog = join(demoDir, "demo/receiver.log");
  const commits = () =>
    Bun.spawnSync(["git", "-C", settings.GITOPS_REPO as string, "log", "--format=%ct %s"])
      .stdout.toString()
      .trim()
      .split("\n")
      .map((line) => ({
        at: Number(line.split(" ")[0]) * 1000,
        subject: line.slice(line.indexOf(" ") + 1),
      }));
  const results: Round[] = [];
  for (let round = 1; round <= rounds; round++) {
    // past the cooldown the last round's scale-in started
    if (round > 1) await Bun.sleep(25_000);
    const before = commits().length;
    const known = new Set(["demo-production-1", "demo-production-2"]);
    const loadStart = Date.now();
    const load = Bun.spawn([process.execPath, join(ROOT, "scripts/load.ts"), loadFor], {
      cwd: ROOT,
      env,
      stdout: "pipe",
      stderr: "inherit",
    });
    let peakProxyCpu = 0;
    let trigger: number | undefined;
    let serving: number | undefined;
    while (serving === undefined && Date.now() - loadStart < 300_000) {
      await Bun.sleep(250);
      const lines = readFileSync(receiverLog, "utf8").split("\n");
      for (const line of lines) {
        const cpu = /autoscaler: .*proxy_cpu (\d+)/.exec(line);
        const at = Date.parse(line.slice(0, 24));
        if (!cpu || !(at >= loadStart)) continue;
        peakProxyCpu = Math.max(peakProxyCpu, Number(cpu[1]));
        if (trigger === undefined && / scale out: /.test(line)) trigger = at;
      }
      if (trigger === undefined) continue;
      // new visitors land on the production hosts in turn: a host that was not there before
      // answers within a few once it is in the rotation (before or after its commit)
      for (let i = 0; i < 12 && serving === undefined; i++) {
        const response = await fetch(`https://${entry}/`, {
          headers: { host: "shop.test" },
          tls: { ca, serverName: "shop.test" },
        }).catch(() => undefined);
        const host = /on (demo-production-\d+)/.exec((await response?.text()) ?? "")?.[1];
        if (host && !known.has(host)) serving = Date.now();
      }
    }
    const loaded = await new Response(load.stdout).text();
    await load.exited;
    const loadEnd = Date.now();
    const summary = /load: done — (\d+) requests .*?, (\d+) failed/.exec(loaded);
    let scaleIn: number | undefined;
    while (scaleIn === undefined && Date.now() - loadEnd < 180_000) {
      await Bun.sleep(500);
      scaleIn = commits()
        .slice(0, commits().length - before)
        .find((c) => c.subject.startsWith("scale in"))?.at;
    }
    const commit = commits().find(
      (c) => c.subject.startsWith("scale out") && c.at >= loadStart - 1000,
    );
    if (trigger === undefined || serving === undefined || !commit || scaleIn === undefined)
      throw new Error(
        `round ${round}: trigger ${trigger}, serving ${serving}, commit ${commit?.at}, scale-in ${scaleIn}`,
      );
    results.push({
      triggerMs: trigger - loadStart,
      servingMs: serving - trigger,
      commitMs: commit.at - trigger,
      scaleInMs: scaleIn - loadEnd,
      requests: Number(summary?.[1] ?? 0),
      failed: Number(summary?.[2] ?? -1),
      peakProxyCpu,
    });
    console.log(`round ${round}:`, results.at(-1));
  }
  const s = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
  console.log(
    `\n| round | load start → trigger | trigger → serving | trigger → commit | load end → scaled in | requests | failed | proxy CPU peak |`,
  );
  console.log("|---|---|---|---|---|---|---|---|");
  for (const [i, r] of results.entries())
    console.log(
      `| ${i + 1} | ${s(r.triggerMs)} | ${s(r.servingMs)} | ${s(r.commitMs)} | ${s(r.scaleInMs)} | ${r.requests} | ${r.failed} | ${r.peakProxyCpu}% |`,
    );
  console.log(
    `| median | ${s(median(results.map((r) => r.triggerMs)))} | ${s(median(results.map((r) => r.servingMs)))} | ${s(median(results.map((r) => r.commitMs)))} | ${s(median(results.map((r) => r.scaleInMs)))} | | | |`,
  );
} finally {
  demo(["--down"]);
  await cleanup();
}
