import { expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { addBackend, admin, servingPids, startProxy, workersOf } from "../../helpers/proxy.ts";
import { connectTo, startRedis } from "../../helpers/redis.ts";
import { eventually, expectLogged } from "../../helpers/server.ts";
import { startUpstream } from "../../helpers/upstream.ts";

const redis = await startRedis();
const state = await connectTo(redis);
const upstream = startUpstream("only");
await addBackend(state, "production", upstream.url);
const config = "health: { interval: 200ms, timeout: 1s }\n";
const proxy = await startProxy(redis, config, { DROPSHIP_PROXY_WORKERS: "2" });

function isGone(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]?.startsWith("Z") ?? true;
  } catch {
    return true;
  }
}

async function requestsCounted(): Promise<number> {
  const text = await (
    await fetch(`${proxy.adminUrl}/_dropship/metrics`, { headers: admin })
  ).text();
  let sum = 0;
  for (const m of text.matchAll(/^dropship_proxy_requests_total\{[^}]*\} (\d+)$/gm))
    sum += Number(m[1]);
  return sum;
}

/** The host's request count once two readings half a second apart agree. */
async function settledCount(): Promise<number> {
  let last = await requestsCounted();
  for (;;) {
    await Bun.sleep(500);
    const now = await requestsCounted();
    if (now === last) return now;
    last = now;
  }
}

test("two workers share the port and both serve; the host's metrics are their sum", async () => {
  expect(proxy.started).toContain("2 workers");
  const workers = workersOf(proxy.pid);
  expect(workers).toHaveLength(2);
  // twenty kept-alive visitors: the kernel spreads their connections over both workers
  let answered = 0;
  const sockets = await Promise.all(
    Array.from({ length: 20 }, () =>
      Bun.connect({
        hostname: "127.0.0.1",
        port: proxy.port,
        socket: {
          data(_socket, chunk) {
            if (chunk.toString("latin1").startsWith("HTTP/1.1 200")) answered++;
          },
        },
      }),
    ),
  );
  for (const socket of sockets) socket.write("GET / HTTP/1.1\r\nHost: shop.example\r\n\r\n");
  await eventually(async () => answered === 20, 5_000, "the twenty answered");
  expect([...servingPids(proxy.port)].sort()).toEqual([...workers].sort());
  for (const socket of sockets) socket.end();

  // the workers report every 200 ms: once the count stands still, every answer so far is in it
  const before = await settledCount();
  const answers = await Promise.all(
    Array.from({ length: 200 }, () =>
      fetch(`${proxy.url}/`, { keepalive: false }).then((r) => r.status),
    ),
  );
  expect(answers.every((s) => s === 200)).toBe(true);
  await eventually(
    async () => (await requestsCounted()) === before + 200,
    2_000,
    "200 more counted",
  );
});

test("a worker that dies is started again; the other serves meanwhile and nothing counted is lost", async () => {
  const [victim, survivor] = workersOf(proxy.pid) as [number, number];
  const counted = await requestsCounted();
  process.kill(victim, "SIGKILL");
  // connections the kernel had queued on the dead worker's socket die with it (in flight on
  // it); those made after it is gone all reach the other one
  await eventually(async () => isGone(victim), 2_000, "the worker dead");
  await Bun.sleep(200);
  const answers = await Promise.all(
    Array.from({ length: 100 }, () =>
      fetch(`${proxy.url}/`, { keepalive: false }).then((r) => r.status),
    ),
  );
  expect(answers.every((s) => s === 200)).toBe(true);
  await eventually(
    async () => workersOf(proxy.pid).length === 2 && !workersOf(proxy.pid).includes(victim),
    5_000,
    "a new worker",
  );
  expect(workersOf(proxy.pid)).toContain(survivor);
  await expectLogged(
    () => proxy.stderr(),
    new RegExp(`worker \\d \\(pid ${victim}\\) exited \\(SIGKILL\\); starting it again`),
  );
  await eventually(async () => (await requestsCounted()) >= counted + 100, 2_000, "counts kept");
});

test("SIGTERM drains every worker: a request in flight is answered, then all are gone", async () => {
  const workers = workersOf(proxy.pid);
  const slow = fetch(`${proxy.url}/slow?ms=800`).then(async (r) => `${r.status} ${await r.text()}`);
  await Bun.sleep(200);
  const stopped = proxy.stop();
  expect(await slow).toBe("200 slow only");
  await stopped;
  for (const pid of workers) {
    await eventually(
      async () => {
        try {
          process.kill(pid, 0);
          return false;
        } catch {
          return true;
        }
      },
      5_000,
      `worker ${pid} gone`,
    );
  }
});

test("proxy.workers 1: one process, no supervisor", async () => {
  const single = await startProxy(redis, `${config}proxy: { workers: 1 }\n`);
  expect(single.started).not.toContain("workers");
  expect(workersOf(single.pid)).toEqual([]);
  expect((await fetch(`${single.url}/`)).status).toBe(200);
  await single.stop();
});
