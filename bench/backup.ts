/**
 * bun run backup and bun run restore on a Redis holding KEYS keys of the app's data (about
 * 60 bytes each) and 20 flags: how long a backup, a restore's plan, and a restore that puts
 * back 1% of changed keys, 1% made since and 5 changed flags take. Medians of ROUNDS.
 *
 *   bun bench/backup.ts [keys=100000] [rounds=3]
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { runAsync } from "../server/shared/proc.ts";
import { changeFlag } from "../server/shared/state/flags.ts";
import { connectRedis, whenReady } from "../server/shared/state/redis.ts";
import { benchRedis, cleanup, ROOT, workDir } from "./lib.ts";

const KEYS = Number(process.argv[2] ?? 100_000);
const ROUNDS = Number(process.argv[3] ?? 3);

try {
  const redis = await benchRedis();
  const admin = connectRedis(redis.url, { purpose: "bench", persistent: true });
  await whenReady(admin, redis.url, 5000);
  const cwd = join(workDir, "backup");
  mkdirSync(cwd, { recursive: true });
  writeFileSync(join(cwd, "dropship.yml"), "name: bench\n");
  const verb = async (script: string, ...args: string[]) => {
    const started = performance.now();
    const argv = [process.execPath, join(ROOT, "scripts", script), ...args];
    const {
      code,
      stdout: out,
      stderr: err,
    } = await runAsync(argv, {
      cwd,
      env: {
        PATH: process.env.PATH ?? "",
        HOME: cwd,
        REDIS_URL: redis.url,
        DROPSHIP_ACTOR: "bench",
        DROPSHIP_GITOPS_REPO: join(cwd, "none"),
      },
    });
    if (code !== 0) throw new Error(`${script} ${args.join(" ")}: ${err}`);
    return { ms: performance.now() - started, out };
  };

  for (let at = 0; at < KEYS; at += 10_000) {
    const pipeline = admin.pipeline();
    for (let i = at; i < Math.min(KEYS, at + 10_000); i++)
      pipeline.set(`app:message:${i}`, `value ${i} ${"x".repeat(48)}`);
    await pipeline.exec();
  }
  for (let i = 0; i < 20; i++)
    await changeFlag(admin, `flag${i}`, { enabled: true, rollout: 100 }, "bench", "create");

  const times = { backup: [] as number[], plan: [] as number[], restore: [] as number[] };
  let size = "";
  for (let round = 0; round < ROUNDS; round++) {
    const backup = await verb("backup.ts");
    times.backup.push(backup.ms);
    size = /Redis at \S+ (.*)/.exec(backup.out)?.[1] ?? "";
    const pipeline = admin.pipeline();
    for (let i = 0; i < KEYS / 100; i++) {
      pipeline.set(`app:message:${i * 100}`, "changed");
      pipeline.set(`app:made:${round}:${i}`, "since");
    }
    await pipeline.exec();
    for (let i = 0; i < 5; i++)
      await changeFlag(admin, `flag${i}`, { enabled: false, rollout: 100 }, "bench", "update");
    times.plan.push((await verb("restore.ts", "latest")).ms);
    times.restore.push((await verb("restore.ts", "latest", "--yes")).ms);
  }
  admin.disconnect();
  const median = (values: number[]) => {
    const sorted = [...values].sort((a, b) => a - b);
    return (sorted[Math.floor(sorted.length / 2)] ?? 0).toFixed(0);
  };
  console.log(`${KEYS} app keys and 20 flags (${size}), medians of ${ROUNDS} rounds:`);
  console.log("| step | ms |");
  console.log("|---|---|");
  console.log(`| bun run backup | ${median(times.backup)} |`);
  console.log(`| bun run restore latest (the plan) | ${median(times.plan)} |`);
  console.log(`| bun run restore latest --yes | ${median(times.restore)} |`);
} finally {
  await cleanup();
}
