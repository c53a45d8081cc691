/**
 * Scale-out time on emulator droplets: from the call to scaleOut (what the autoscaler does once
 * its rule fires) to the new host answering through the proxy, with each step's share —
 * create + SSH ready, converge with product.yml, deliver + health, into rotation — then scale
 * in again. Needs root (the emulator).
 *
 *   bun bench/scale-out.ts [rounds=3]
 */
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { InventoryRepo } from "../gitops/repo.ts";
import { recordShipped, releaseDir } from "../pipeline/deploy.ts";
import { scaleIn, scaleOut } from "../pipeline/scale.ts";
import { DigitalOcean } from "../server/shared/cloud/digitalocean.ts";
import { validateConfig } from "../server/shared/config/validate.ts";
import { run } from "../server/shared/proc.ts";
import { connectRedis } from "../server/shared/state/redis.ts";
import { benchEmulator, benchRedis, benchServer, cleanup, median, ROOT, workDir } from "./lib.ts";

const rounds = Number(process.argv[2] ?? 3);
const ADMIN = "bench-admin-token-0123456789";
try {
  const { token: apiToken, apiUrl } = await benchEmulator();
  const redis = await benchRedis();
  const proxy = await benchServer(
    "proxy",
    { REDIS_URL: redis.url, DROPSHIP_ADMIN_TOKEN: ADMIN },
    "/_dropship/healthz",
  );
  const state = connectRedis(redis.url, { purpose: "bench", persistent: true, log: () => {} });
  run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", join(workDir, "id")]);
  writeFileSync(join(workDir, "known_hosts"), "");
  const checked = validateConfig({
    name: "bench",
    roles: { production: { count: 1 } },
    autoscale: { min: 1, max: rounds },
  });
  if (!checked.ok) throw new Error(checked.errors.join("\n"));
  const work = join(workDir, "work");
  mkdirSync(releaseDir(work, "rel-1"), { recursive: true });
  run([
    process.execPath,
    join(ROOT, "scripts/build.ts"),
    "--outdir",
    releaseDir(work, "rel-1"),
    "--version",
    "rel-1",
  ]);
  recordShipped(work, "production", "rel-1");
  const steps: Record<string, number> = {};
  const deps = {
    config: checked.config,
    provider: new DigitalOcean({ token: apiToken, apiUrl }),
    repo: new InventoryRepo(join(workDir, "inventory")),
    redis: state,
    privateKeyFile: join(workDir, "id"),
    privateKey: readFileSync(join(workDir, "id"), "utf8"),
    publicKey: readFileSync(join(workDir, "id.pub"), "utf8"),
    knownHostsFile: join(workDir, "known_hosts"),
    workDir: work,
    // the app reports a Redis it cannot reach as degraded, not failing: enough to serve
    playbookEnv: { REDIS_URL: "redis://:unused@10.77.0.1:1/0" },
    // "▸ converge … (the release sent meanwhile)", "▸ start …", "▸ into rotation": when each step started
    say: (line: string) => {
      const step = /^▸ (\w+)/.exec(line)?.[1];
      if (step) steps[step] = performance.now();
    },
  };
  const rows: number[][] = [];
  console.log(
    "| round | create + SSH | converge ∥ send release | start + health | into rotation → first answer | total |\n|---|---|---|---|---|---|",
  );
  for (let round = 1; round <= rounds; round++) {
    const started = performance.now();
    const host = await scaleOut(deps, "bench");
    for (;;) {
      const response = await fetch(`${proxy.url}/`);
      const body = await response.text();
      if (body.includes(`on ${host.name}`)) break;
    }
    const serving = performance.now();
    const s = (a: number, b: number) => (b - a) / 1000;
    const row = [
      s(started, steps.converge ?? started),
      s(steps.converge ?? started, steps.start ?? started),
      s(steps.start ?? started, steps.into ?? started),
      s(steps.into ?? started, serving),
      s(started, serving),
    ];
    rows.push(row);
    console.log(`| ${round} | ${row.map((v) => `${v.toFixed(2)} s`).join(" | ")} |`);
  }
  const medians = rows[0]?.map((_, i) => median(rows.map((r) => r[i] as number))) ?? [];
  console.log(`| median | ${medians.map((v) => `${v.toFixed(2)} s`).join(" | ")} |`);
  for (let round = 1; round < rounds; round++) await scaleIn(deps, "bench done", 200);
  state.disconnect();
} finally {
  await cleanup();
}
