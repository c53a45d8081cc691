import { expect, test } from "bun:test";
import { ADMIN_TOKEN, addBackend, startProxy } from "../../helpers/proxy.ts";
import { answerFrom, statusOf } from "../../helpers/raw.ts";
import { connectTo, startRedis } from "../../helpers/redis.ts";
import { expectLogged } from "../../helpers/server.ts";
import { startUpstream } from "../../helpers/upstream.ts";

// Strangers guessing the admin token, on raw sockets from loopback addresses of their own:
// 127.0.0.2 and .6 guess, .4 and .5 are the team, .3 is a trusted load balancer.
const redis = await startRedis();
const state = await connectTo(redis);
const upstream = startUpstream("app");
await addBackend(state, "production", upstream.url);
const proxy = await startProxy(
  redis,
  "health: { interval: 200ms, timeout: 1s }\nproxy: { trusted_proxies: [127.0.0.3/32] }\n",
  { DROPSHIP_PROXY_WORKERS: "1" },
);
const publicPort = proxy.port;
const adminPort = Number(new URL(proxy.adminUrl).port);

/** One request on a connection of its own from `from`; the whole answer, once closed. */
const send = (port: number, from: string, path: string, fields: string[] = []) =>
  answerFrom(
    port,
    from,
    `GET ${path} HTTP/1.1\r\nHost: shop.test\r\n${fields.map((f) => `${f}\r\n`).join("")}Connection: close\r\n\r\n`,
  );

const bearer = (token: string) => `Authorization: Bearer ${token}`;
const RIGHT = bearer(ADMIN_TOKEN);
const disableSet = async () => (await state.hget("dropship:flags", "disableSET")) ?? "";

test("an address that guesses ten wrong tokens in a minute is held, right token or not, and no one else is", async () => {
  const before = await disableSet();
  for (let i = 0; i < 10; i++) {
    const answer = await send(publicPort, "127.0.0.2", "/disable/1", [bearer(`guess-${i}-x`)]);
    expect(statusOf(answer)).toBe(401);
  }
  const held = await send(publicPort, "127.0.0.2", "/disable/1", [RIGHT]);
  expect(statusOf(held)).toBe(429);
  expect(held).toMatch(/\r\nretry-after: (60|59)\r\n/i);
  expect(held).toContain(
    "10 wrong credentials came from this address within 60 s, so it is not heard for 60 s",
  );
  // the right token from the held address changed nothing
  expect(await disableSet()).toBe(before);
  // one process (no supervisor): its admin listener holds it too
  expect(statusOf(await send(adminPort, "127.0.0.2", "/_dropship/status", [RIGHT]))).toBe(429);
  // its visits to the app are served as ever
  expect(statusOf(await send(publicPort, "127.0.0.2", "/plain"))).toBe(200);
  // the team, from another address, is heard
  const team = await send(publicPort, "127.0.0.4", "/disable/1", [RIGHT]);
  expect(statusOf(team)).toBe(200);
  expect(await disableSet()).toContain('"enabled":true');
  expect(statusOf(await send(publicPort, "127.0.0.4", "/disable/0", [RIGHT]))).toBe(200);
  // said once, with the address and never a token
  const log = proxy.stderr();
  expect(log).toContain(
    "127.0.0.2 gave wrong admin credentials 10 times within 60 s: refused for 60 s",
  );
  expect(log).not.toContain("guess-");
});

test("a request without credentials is not a wrong one: git and browsers ask that way first", async () => {
  for (let i = 0; i < 15; i++) {
    expect(statusOf(await send(publicPort, "127.0.0.5", "/disable/0"))).toBe(401);
  }
  expect(statusOf(await send(publicPort, "127.0.0.5", "/disable/0", [RIGHT]))).toBe(200);
});

test("behind a trusted load balancer the visitor it names is held, never the balancer", async () => {
  const via = (visitor: string) => `X-Forwarded-For: ${visitor}`;
  for (let i = 0; i < 10; i++) {
    const answer = await send(publicPort, "127.0.0.3", "/disable/1", [
      via("198.51.100.7"),
      bearer(`guess-${i}-y`),
    ]);
    expect(statusOf(answer)).toBe(401);
  }
  const guesser = await send(publicPort, "127.0.0.3", "/disable/0", [via("198.51.100.7"), RIGHT]);
  expect(statusOf(guesser)).toBe(429);
  const other = await send(publicPort, "127.0.0.3", "/disable/0", [via("198.51.100.8"), RIGHT]);
  expect(statusOf(other)).toBe(200);
  await expectLogged(() => proxy.stderr(), "198.51.100.7 gave wrong admin credentials");

  // an untrusted peer's own X-Forwarded-For is not believed: a new one each time gains nothing
  for (let i = 0; i < 10; i++) {
    await send(publicPort, "127.0.0.6", "/disable/1", [via(`203.0.113.${i}`), bearer(`g${i}`)]);
  }
  const spoofer = await send(publicPort, "127.0.0.6", "/disable/0", [via("203.0.113.99"), RIGHT]);
  expect(statusOf(spoofer)).toBe(429);
});
