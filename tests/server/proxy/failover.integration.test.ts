import { expect, test } from "bun:test";
import { addBackend, admin, startProxy } from "../../helpers/proxy.ts";
import { connectTo, startRedis } from "../../helpers/redis.ts";
import { eventually, startServer } from "../../helpers/server.ts";

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
  // counts, not a time: on a busy machine 500 ms held 74 requests once, and the test is
  // about what happens to them, not how many there are
  await eventually(async () => outcomes.length >= 100, 30_000, "100 requests before the kill");
  const before = outcomes.length;
  process.kill(victim.pid, "SIGKILL");
  const killed = performance.now();
  await eventually(
    async () => outcomes.length - before >= 100 && performance.now() - killed >= 1500,
    30_000,
    "100 requests and 1.5 s after the kill",
  );
  stop = true;
  await Promise.all(workers);

  expect(outcomes.filter((o) => o !== "ok")).toEqual([]);
  const status = (await (
    await fetch(`${proxy.adminUrl}/_dropship/status`, { headers: admin })
  ).json()) as {
    backends: { id: string; healthy: boolean; reason: string | null }[];
  };
  const dead = status.backends.find((b) => b.id === victim.url.slice(7));
  expect(dead?.healthy).toBe(false);
  expect(dead?.reason).toBeTruthy();
}, 90_000);

test("a production app gone silent: the requests it had taken go to another backend once it leaves the rotation", async () => {
  // stopped, not killed: its socket still accepts and nothing answers, as a droplet cut off the
  // network looks from the proxy (no reset, no FIN)
  const sleeper = await startServer("app", { REDIS_URL: redis.url });
  await addBackend(state, "production", sleeper.url);
  const id = sleeper.url.slice(7);
  const healthy = async () => {
    const status = (await (
      await fetch(`${proxy.adminUrl}/_dropship/status`, { headers: admin })
    ).json()) as { backends: { id: string; healthy: boolean }[] };
    return status.backends.find((b) => b.id === id)?.healthy === true;
  };
  for (let i = 0; i < 100 && !(await healthy()); i++) await Bun.sleep(100);
  expect(await healthy()).toBe(true);
  // the status page is the supervisor's view; each worker checks for itself (every 200 ms)
  await Bun.sleep(600);
  process.kill(sleeper.pid, "SIGSTOP");
  try {
    // least-in-flight, taking turns, sends some of these to the silent one
    const answers = await Promise.all(
      Array.from({ length: 12 }, async () => {
        const started = performance.now();
        const response = await fetch(`${proxy.url}/`);
        const body = await response.text();
        return {
          status: response.status,
          from: response.headers.get("x-dropship-backend"),
          hello: body.startsWith("Hello"),
          seconds: (performance.now() - started) / 1000,
        };
      }),
    );
    // every one answered by the survivor, long before the 30 s response timeout
    for (const answer of answers) {
      expect(answer).toMatchObject({ status: 200, hello: true });
      expect(answer.from).not.toBe(id);
      expect(answer.seconds).toBeLessThan(10);
    }
    // and some had been taken by the silent one: they waited for its checks to fail (~2 s)
    expect(Math.max(...answers.map((a) => a.seconds))).toBeGreaterThan(1);
    // the status page is the supervisor's, whose own checks may find it out a check or two later
    for (let i = 0; i < 50 && (await healthy()); i++) await Bun.sleep(100);
    expect(await healthy()).toBe(false);
  } finally {
    process.kill(sleeper.pid, "SIGKILL");
  }
}, 60_000);
