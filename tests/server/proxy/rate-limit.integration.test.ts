import { expect, test } from "bun:test";
import {
  ADMIN_TOKEN,
  addBackend,
  servingPids,
  startProxy,
  workersOf,
} from "../../helpers/proxy.ts";
import { holdOpen, statusOf } from "../../helpers/raw.ts";
import { connectTo, startRedis } from "../../helpers/redis.ts";
import { eventually, expectLogged } from "../../helpers/server.ts";
import { startUpstream } from "../../helpers/upstream.ts";

// One stranger flooding the proxy, on raw sockets from loopback addresses of its own
// (127.0.0.2 floods, 127.0.0.4 is an ordinary visitor, 127.0.0.3 a trusted load balancer).
const redis = await startRedis();
const state = await connectTo(redis);
const upstream = startUpstream("app");
await addBackend(state, "production", upstream.url);
const proxy = await startProxy(
  redis,
  "health: { interval: 200ms, timeout: 1s }\n" +
    "proxy: { rate_limit: { requests_per_second: 5, burst: 10 }, trusted_proxies: [127.0.0.3/32] }\n",
  { DROPSHIP_PROXY_WORKERS: "1" },
);

const GET = (path: string, extra = "") => `GET ${path} HTTP/1.1\r\nHost: shop.test\r\n${extra}\r\n`;
/** Each answer's status, in order (the test backend's bodies end without a newline). */
const statuses = (text: string) =>
  [...text.matchAll(/HTTP\/1\.1 (\d{3}) [A-Z]/g)].map((m) => Number(m[1]));
const reached = (tag: string) => upstream.received.filter((r) => r.path.includes(tag)).length;
const refused429 = async () => {
  const text = await fetch(`${proxy.adminUrl}/_dropship/metrics`, {
    headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
  }).then((r) => r.text());
  return Number(/refused_total\{status="429"\} (\d+)/.exec(text)?.[1] ?? 0);
};

/** `count` requests pipelined on one keep-alive connection from `from`; every answer's text. */
async function flood(from: string, tag: string, count: number, extra = ""): Promise<string> {
  const requests = [...Array(count)].map((_, i) => GET(`/plain?${tag}-${i}`, extra)).join("");
  const held = await holdOpen(proxy.port, from, requests);
  await eventually(
    async () => statuses(held.received()).length === count,
    10_000,
    `${count} answers to ${from}`,
  );
  held.socket.destroy();
  return held.received();
}

test("the proxy says its request rate at start", () => {
  expect(proxy.started).toContain("5 requests a second an address (bursts of 10)");
});

test("an address past its burst is told 429 with Retry-After, reaches no backend, and everyone else is served", async () => {
  const before = await refused429();
  // the stranger's other ways in, opened before the flood and finished the moment it is
  // answered (a token comes back 200 ms after the last request served): a request with a body
  // (passed to Bun.serve behind the front) and a WebSocket handshake
  const postRequest =
    "POST /plain?attack-post HTTP/1.1\r\nHost: shop.test\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello";
  const wsRequest = GET(
    "/plain?attack-ws",
    "Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n",
  );
  // (each held one byte short of its head's end: a request is counted once its head is in)
  const postHeadEnd = postRequest.indexOf("\r\n\r\n") + 3;
  const post = await holdOpen(proxy.port, "127.0.0.2", postRequest.slice(0, postHeadEnd));
  const ws = await holdOpen(proxy.port, "127.0.0.2", wsRequest.slice(0, -1));

  const text = await flood("127.0.0.2", "attack", 40);
  post.socket.write(postRequest.slice(postHeadEnd));
  ws.socket.write(wsRequest.slice(-1));
  const got = statuses(text);
  const served = got.filter((s) => s === 200).length;
  // its burst, and the odd token that came back while the 40 were answered
  expect(served).toBeGreaterThanOrEqual(10);
  expect(served).toBeLessThanOrEqual(12);
  expect(got.filter((s) => s === 429).length).toBe(40 - served);
  expect(new Set(got)).toEqual(new Set([200, 429]));
  // the first ten went through, in order: the refusals come after the burst
  expect(got.slice(0, 10)).toEqual(Array(10).fill(200));
  expect(text).toMatch(/^retry-after: 1\r$/m);
  expect(text).toContain(
    "This address sent more than 5 requests a second (bursts up to 10), the most one address may send; try again in 1 s.",
  );
  // what was refused never reached the backend
  expect(reached("attack-")).toBe(served);
  // the connection stayed open and usable: a refusal is an answer, not a hang-up
  expect(got.length).toBe(40);

  // the body and the handshake were refused too
  await eventually(async () => post.closed(), 5000, "the answer to the POST");
  expect(statusOf(post.received())).toBe(429);
  await eventually(async () => statusOf(ws.received()) !== 0, 5000, "the answer to the handshake");
  ws.socket.destroy();
  expect(statusOf(ws.received())).toBe(429);
  expect(reached("attack-post") + reached("attack-ws")).toBe(0);

  // a visitor from another address, meanwhile: every request served
  const visitor = statuses(await flood("127.0.0.4", "visitor", 10));
  expect(visitor).toEqual(Array(10).fill(200));

  await expectLogged(() => proxy.stderr(), "429 to 127.0.0.2: over 5 requests a second");
  expect((await refused429()) - before).toBeGreaterThanOrEqual(40 - served + 2);

  // tokens come back at the rate: after a second's pause it is served again
  await Bun.sleep(1100);
  expect(statuses(await flood("127.0.0.2", "later", 5))).toEqual(Array(5).fill(200));
}, 30_000);

test("behind a trusted load balancer each visitor it forwards has a bucket of its own; its own requests have none", async () => {
  const viaLb = (visitor: string) => `X-Forwarded-For: ${visitor}\r\n`;
  const first = statuses(await flood("127.0.0.3", "lb-a", 20, viaLb("198.51.100.1")));
  expect(first.slice(0, 10)).toEqual(Array(10).fill(200));
  expect(first.filter((s) => s === 429).length).toBeGreaterThanOrEqual(8);
  // another visitor on the same balancer's connections is not held back by the first
  expect(statuses(await flood("127.0.0.3", "lb-b", 10, viaLb("198.51.100.2")))).toEqual(
    Array(10).fill(200),
  );
  // the balancer's own requests (its health checks) are never limited
  expect(statuses(await flood("127.0.0.3", "lb-own", 30))).toEqual(Array(30).fill(200));
  await expectLogged(() => proxy.stderr(), "429 to 198.51.100.1: over 5 requests a second");
}, 30_000);

test("with two workers an address has one bucket on the host, whichever worker its connections reach", async () => {
  // one token a second: a bucket a worker would let through twice the burst
  const pair = await startProxy(
    redis,
    "health: { interval: 200ms, timeout: 1s }\n" +
      "proxy: { rate_limit: { requests_per_second: 1, burst: 10 } }\n",
    { DROPSHIP_PROXY_WORKERS: "2" },
  );
  const started = performance.now();
  const held = await Promise.all(
    [...Array(20)].map((_, c) =>
      holdOpen(
        pair.port,
        "127.0.0.5",
        [...Array(5)].map((_, i) => GET(`/plain?pair-${c}-${i}`)).join(""),
      ),
    ),
  );
  try {
    await eventually(
      async () => held.every((h) => statuses(h.received()).length === 5),
      10_000,
      "100 answers to 127.0.0.5",
    );
    const seconds = (performance.now() - started) / 1000;
    // the connections were spread over both workers (by the kernel's hash of each one's port)
    const workers = workersOf(pair.pid);
    expect(workers).toHaveLength(2);
    const serving = servingPids(pair.port);
    for (const pid of workers) expect(serving.has(pid)).toBe(true);
    const got = held.flatMap((h) => statuses(h.received()));
    const served = got.filter((s) => s === 200).length;
    expect(got.filter((s) => s === 429).length).toBe(100 - served);
    // the burst once for the host, and the tokens that came back meanwhile: not once a worker
    expect(served).toBeGreaterThanOrEqual(10);
    expect(served).toBeLessThanOrEqual(10 + Math.ceil(seconds) + 1);
    expect(served).toBeLessThan(20);
    expect(reached("pair-")).toBe(served);
  } finally {
    for (const h of held) h.socket.destroy();
  }
}, 30_000);
