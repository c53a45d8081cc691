import { afterAll, expect, test } from "bun:test";
import { readAudit } from "../../../server/shared/state/audit.ts";
import { KEYS } from "../../../server/shared/state/keys.ts";
import { addBackend, admin, startProxy } from "../../helpers/proxy.ts";
import { connectTo, startRedis } from "../../helpers/redis.ts";
import { eventually } from "../../helpers/server.ts";
import { startUpstream } from "../../helpers/upstream.ts";

/** A release that answers everything right, each after `delayMs`; its health check at once. */
function startSlowApp(delayMs: number) {
  const server = Bun.serve({
    port: 0,
    hostname: "127.0.0.1",
    async fetch(request) {
      const path = new URL(request.url).pathname;
      if (path === "/healthz") return Response.json({ status: "ok", version: "slow" });
      await Bun.sleep(delayMs);
      return new Response(`slow ${path}`);
    },
  });
  afterAll(() => server.stop(true));
  return { url: `http://127.0.0.1:${server.port}` };
}

const redis = await startRedis();
const state = await connectTo(redis);
await addBackend(state, "production", startUpstream("fast").url);
await addBackend(state, "staging", startSlowApp(300).url);
// workers: auto, so the slow answers go through the workers' tallies to the host's window;
// 127.0.0.1 stands for a load balancer in front, so the test can be many visitors
const proxy = await startProxy(
  redis,
  "health: { interval: 200ms, timeout: 1s }\ncanary: { weight: 50, analysis: { window: 30s, min_requests: 20, slow_after: 150ms, max_slow_rate_increase: 10 } }\nproxy: { trusted_proxies: [127.0.0.1] }\n",
);
afterAll(() => proxy.stop());

async function canaryState() {
  const response = await fetch(`${proxy.adminUrl}/_dropship/status`, { headers: admin });
  const status = (await response.json()) as {
    canary: { state: string; blockedBecause: string | null; analysis: string | null };
  };
  return status.canary;
}

test("the status says the analysis's last word each second: here, the staging requests it still waits for", async () => {
  await eventually(
    async () => (await canaryState()).analysis === "waiting: 0/20 staging requests",
    3000,
    "the analysis's first word",
  );
  // ten visitors, one request each: staging's are all slow, so the one of them it counts as the
  // worst (the first) is left out of the verdict, as a hammering visitor would be
  let staging = 0;
  for (let i = 0; i < 10; i++) {
    const answer = await fetch(`${proxy.url}/page`, {
      headers: { "x-forwarded-for": `192.0.2.${i + 1}` },
    });
    await answer.arrayBuffer();
    if (answer.headers.get("x-dropship-track") === "staging") staging++;
  }
  const counted = Math.max(0, staging - 1);
  await eventually(
    async () => (await canaryState()).analysis === `waiting: ${counted}/20 staging requests`,
    5000,
    `the analysis counting ${counted} of ${staging} staging requests`,
  );
});

test("a canary slower than production (slow_after) is aborted on its own, audited and alerted; every visitor was answered", async () => {
  const statuses: number[] = [];
  let n = 0;
  await eventually(
    async () => {
      const round = await Promise.all(
        Array.from({ length: 40 }, () =>
          fetch(`${proxy.url}/page`, {
            headers: { "x-forwarded-for": `203.0.113.${n++ % 200}` },
          }).then(async (r) => {
            await r.arrayBuffer();
            return r.status;
          }),
        ),
      );
      statuses.push(...round);
      return (await canaryState()).state === "aborted";
    },
    20_000,
    "the canary aborted for its speed",
  );
  expect(new Set(statuses)).toEqual(new Set([200]));
  // production's own answers may pass 150 ms now and then on a machine busy with other tests
  expect((await canaryState()).blockedBecause).toMatch(
    /^aborted: canary analysis: staging slower than 150 ms \d+\.\d% of \d+ vs production \d+\.\d% of \d+ \(more than 10 points worse\)$/,
  );
  const [entry] = await readAudit(state, { kind: "canary", limit: 1 });
  expect(entry?.actor).toBe("dropship-proxy canary analysis");
  await eventually(
    async () => (await canaryState()).analysis === "not judging: staging takes no traffic",
    3000,
    "the analysis resting",
  );
  const page = await (await fetch(`${proxy.adminUrl}/_dropship/`, { headers: admin })).text();
  expect(page).toContain("Analysis: not judging: staging takes no traffic.");
  expect(await state.hexists(KEYS.alerts, "canary-analysis")).toBe(1);
  // from now on every new visitor is production's, at production's speed
  const after = await fetch(`${proxy.url}/page`, {
    headers: { "x-forwarded-for": "198.51.100.200" },
  });
  expect(after.headers.get("x-dropship-track")).toBe("production");
});
