import { expect, test } from "bun:test";
import { addBackend, admin, startProxy } from "../../helpers/proxy.ts";
import { connectTo, startRedis } from "../../helpers/redis.ts";
import { startServer } from "../../helpers/server.ts";

const redis = await startRedis();
const state = await connectTo(redis);
const victim = await startServer("app", { REDIS_URL: redis.url });
const survivor = await startServer("app", { REDIS_URL: redis.url });
await addBackend(state, "production", victim.url);
await addBackend(state, "production", survivor.url);
const proxy = await startProxy(redis);

test("a production app killed under load costs no idempotent request", async () => {
  const outcomes: string[] = [];
  let stop = false;
  const workers = Array.from({ length: 20 }, async () => {
    while (!stop) {
      try {
        const response = await fetch(`${proxy.url}/`);
        const body = await response.text();
        outcomes.push(
          response.status === 200 && body.startsWith("Hello") ? "ok" : `HTTP ${response.status}`,
        );
      } catch (error) {
        outcomes.push(`error ${(error as Error).message}`);
      }
    }
  });
  await Bun.sleep(500);
  const before = outcomes.length;
  process.kill(victim.pid, "SIGKILL");
  await Bun.sleep(1500);
  stop = true;
  await Promise.all(workers);

  expect(before).toBeGreaterThan(100);
  expect(outcomes.length - before).toBeGreaterThan(100);
  expect(outcomes.filter((o) => o !== "ok")).toEqual([]);
  const status = (await (
    await fetch(`${proxy.adminUrl}/_dropship/status`, { headers: admin })
  ).json()) as {
    backends: { id: string; healthy: boolean; reason: string | null }[];
  };
  const dead = status.backends.find((b) => b.id === victim.url.slice(7));
  expect(dead?.healthy).toBe(false);
  expect(dead?.reason).toBeTruthy();
});
