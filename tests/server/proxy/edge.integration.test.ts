import { describe, expect, test } from "bun:test";
import { addBackend, admin, startProxy } from "../../helpers/proxy.ts";
import { abortUpload, rawRequest, statusOf } from "../../helpers/raw.ts";
import { connectTo, startRedis } from "../../helpers/redis.ts";
import { eventually } from "../../helpers/server.ts";
import { startUpstream } from "../../helpers/upstream.ts";

// What a stranger can send the public listener: nothing here may reach a backend, take one
// out of rotation, or cost another visitor a request.
const redis = await startRedis();
const state = await connectTo(redis);
const prod1 = startUpstream("prod-1");
const prod2 = startUpstream("prod-2");
await addBackend(state, "production", prod1.url);
await addBackend(state, "production", prod2.url);
const proxy = await startProxy(redis);
const received = () => prod1.received.length + prod2.received.length;

async function backendsHealthy() {
  const status = (await (
    await fetch(`${proxy.adminUrl}/_dropship/status`, { headers: admin })
  ).json()) as { backends: { healthy: boolean }[] };
  return status.backends.length === 2 && status.backends.every((b) => b.healthy);
}

const BAD_REQUESTS: [string, string, number, string][] = [
  ["an empty Host", "GET /recent HTTP/1.1\r\nHost: \r\n\r\n", 400, "no Host field"],
  ["HTTP/1.0 without Host", "GET /recent HTTP/1.0\r\n\r\n", 400, "no Host field"],
  ["Host: a@b", "GET /recent HTTP/1.1\r\nHost: a@b\r\n\r\n", 400, "not a host name"],
  ["Host: x?", "GET /recent HTTP/1.1\r\nHost: x?\r\n\r\n", 400, "not a host name"],
  ["Host: x/y", "GET /recent HTTP/1.1\r\nHost: x/y\r\n\r\n", 400, "not a host name"],
  [
    "two Host fields",
    "GET /recent HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
    400,
    "more than one Host",
  ],
  [
    "two Host fields under an absolute-form target",
    "GET http://a/recent HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
    400,
    "more than one Host",
  ],
  [
    "an absolute-form target naming another host than Host",
    "GET http://169.254.169.254/metadata HTTP/1.1\r\nHost: shop.example\r\n\r\n",
    400,
    "names another host than the Host field",
  ],
  [
    "CONNECT",
    "CONNECT 10.0.0.1:22 HTTP/1.1\r\nHost: 10.0.0.1:22\r\n\r\n",
    405,
    "CONNECT is not served",
  ],
  ["TRACE", "TRACE / HTTP/1.1\r\nHost: shop.example\r\n\r\n", 405, "TRACE is not served"],
  [
    "a GET with a body",
    "GET / HTTP/1.1\r\nHost: shop.example\r\nContent-Length: 5\r\n\r\nhello",
    400,
    "A body on GET",
  ],
];

describe("requests the proxy answers itself", () => {
  for (const [name, request, status, says] of BAD_REQUESTS) {
    test(`${name}: ${status}, and no backend sees it or suffers`, async () => {
      const before = received();
      const answer = await rawRequest(proxy.url, request);
      expect(statusOf(answer)).toBe(status);
      expect(answer).toContain(says);
      if (status === 405) expect(answer.toLowerCase()).toContain("allow: get, head, post");
      expect(received()).toBe(before);
      expect(await backendsHealthy()).toBe(true);
      const next = await fetch(`${proxy.url}/`);
      expect(next.status).toBe(200);
    });
  }

  test("the proxy's healthz answers a health checker that sends no Host; the flag URLs do not", async () => {
    const health = await rawRequest(proxy.url, "GET /_dropship/healthz HTTP/1.0\r\n\r\n");
    expect(statusOf(health)).toBe(200);
    expect(health).toContain('"status":"ok"');
    const flag = await rawRequest(proxy.url, "GET /disable/1 HTTP/1.0\r\n\r\n");
    expect(statusOf(flag)).toBe(400);
  });

  test("an absolute-form target naming the Host's host is routed to a backend as a path, never dialled", async () => {
    const answer = await rawRequest(
      proxy.url,
      "GET HTTP://169.254.169.254:80/latest/meta-data HTTP/1.1\r\nHost: 169.254.169.254\r\nConnection: close\r\n\r\n",
    );
    expect(statusOf(answer)).toBe(200);
    const got = [...prod1.received, ...prod2.received].find((r) => r.path === "/latest/meta-data");
    expect(got?.headers.host).toBe("169.254.169.254");
  });

  test("refusals are logged, one line each, and a flood is held to 20 lines a second", async () => {
    const before = proxy
      .stderr()
      .split("\n")
      .filter((l) => l.includes("Host field")).length;
    await Promise.all(
      Array.from({ length: 200 }, () =>
        rawRequest(proxy.url, "GET / HTTP/1.1\r\nHost: a@b\r\n\r\n", { quietMs: 50 }),
      ),
    );
    await Bun.sleep(1_100);
    await rawRequest(proxy.url, "GET / HTTP/1.1\r\nHost: a@b\r\n\r\n", { quietMs: 50 });
    await Bun.sleep(100);
    const lines = proxy.stderr().split("\n");
    const logged = lines.filter((l) => l.includes("Host field")).length - before;
    expect(logged).toBeGreaterThanOrEqual(2);
    expect(logged).toBeLessThanOrEqual(45);
    expect(lines.some((l) => /\(\d+ similar lines not logged\)/.test(l))).toBe(true);
  });
});

describe("clients that go away", () => {
  test("an upload cut off mid-body takes no backend out, and is logged as 499", async () => {
    for (let i = 0; i < 4; i++) {
      await abortUpload(
        proxy.url,
        "POST /upload HTTP/1.1\r\nHost: shop.example\r\nContent-Type: image/png\r\nContent-Length: 1000000\r\n\r\n",
        "x".repeat(20_000),
      );
    }
    await Bun.sleep(200);
    expect(await backendsHealthy()).toBe(true);
    const after = await Promise.all(Array.from({ length: 10 }, () => fetch(`${proxy.url}/`)));
    expect(after.map((r) => r.status)).toEqual(Array(10).fill(200));
    await eventually(async () => /499 POST \/upload/.test(proxy.stderr()), 2_000, "a 499 line");
  });

  test("a client that leaves cancels its request upstream", async () => {
    const before = prod1.cancelled + prod2.cancelled;
    const controller = new AbortController();
    const pending = fetch(`${proxy.url}/hang?ms=3000`, { signal: controller.signal }).catch(
      () => "aborted",
    );
    await Bun.sleep(300);
    controller.abort();
    expect(await pending).toBe("aborted");
    await eventually(
      async () => prod1.cancelled + prod2.cancelled === before + 1,
      2_000,
      "the upstream request cancelled",
    );
    expect(await backendsHealthy()).toBe(true);
  });

  test("under steady load, 100 bad-Host requests and 20 aborted uploads cost others nothing", async () => {
    let stop = false;
    const statuses: number[] = [];
    const load = Promise.all(
      Array.from({ length: 8 }, async () => {
        while (!stop) {
          const response = await fetch(`${proxy.url}/work`);
          await response.arrayBuffer();
          statuses.push(response.status);
        }
      }),
    );
    // the hostile requests come while the load is under way, not before its first answers
    await eventually(async () => statuses.length >= 16, 10_000, "the steady load under way");
    const hostile = [
      ...Array.from({ length: 100 }, (_, i) =>
        rawRequest(
          proxy.url,
          i % 2 ? "GET /recent HTTP/1.1\r\nHost: \r\n\r\n" : "GET /recent HTTP/1.0\r\n\r\n",
          { quietMs: 50 },
        ),
      ),
      ...Array.from({ length: 20 }, () =>
        abortUpload(
          proxy.url,
          "POST /upload HTTP/1.1\r\nHost: shop.example\r\nContent-Length: 500000\r\n\r\n",
          "y".repeat(10_000),
          30,
        ),
      ),
    ];
    await Promise.all(hostile);
    // then the load runs on for 100 more answers; counted, not timed, because a busy CI
    // machine answers fewer in a fixed time
    const afterHostile = statuses.length;
    await eventually(
      async () => statuses.length >= afterHostile + 100,
      20_000,
      "100 more answers to the steady load",
    );
    stop = true;
    await load;
    expect(statuses.filter((s) => s !== 200)).toEqual([]);
    expect(await backendsHealthy()).toBe(true);
  });
});
