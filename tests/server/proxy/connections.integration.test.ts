import { expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import tls from "node:tls";
import { selfSigned } from "../../../scripts/lib/certificates.ts";
import { freePort } from "../../helpers/ports.ts";
import { ADMIN_TOKEN, addBackend, startProxy } from "../../helpers/proxy.ts";
import { answerFrom, type Held, holdOpen, statusOf } from "../../helpers/raw.ts";
import { connectTo, startRedis } from "../../helpers/redis.ts";
import { eventually, expectLogged } from "../../helpers/server.ts";
import { storeCertificate } from "../../helpers/test-ca.ts";
import { fileTempDir } from "../../helpers/tmp.ts";
import { startUpstream } from "../../helpers/upstream.ts";

// Strangers holding connections open, on raw sockets from addresses of their own on loopback
// (127.0.0.2, .4, .5 are visitors; 127.0.0.3 is a trusted load balancer).
const redis = await startRedis();
const state = await connectTo(redis);
const upstream = startUpstream("app");
await addBackend(state, "production", upstream.url);
const FAST = "health: { interval: 200ms, timeout: 1s }\n";
const ONE = { DROPSHIP_PROXY_WORKERS: "1" };

const GET = (path: string) =>
  `GET ${path} HTTP/1.1\r\nHost: shop.test\r\nConnection: close\r\n\r\n`;

/** One request on a connection of its own from `from`; the whole answer, once closed. */
const request = (port: number, from: string, path = "/plain") => answerFrom(port, from, GET(path));

const release = (held: Held[]) => {
  for (const h of held) h.socket.destroy();
};

/** CPU seconds the process has used (user and system). */
function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]?.split(" ") ?? [];
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

const refusedCount = async (adminUrl: string, status: number) => {
  const text = await fetch(`${adminUrl}/_dropship/metrics`, {
    headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
  }).then((r) => r.text());
  return Number(new RegExp(`refused_total\\{status="${status}"\\} (\\d+)`).exec(text)?.[1] ?? 0);
};

const limited = await startProxy(
  redis,
  `${FAST}proxy: { max_connections: 6, max_connections_per_address: 3 }\n`,
  ONE,
);

test("one address holds at most max_connections_per_address; the next is told 429 and closed, others are served", async () => {
  expect(limited.started).toContain("at most 6 connections a process and 3 an address");
  const idle = await Promise.all([1, 2, 3].map(() => holdOpen(limited.port, "127.0.0.2")));
  const extra = await holdOpen(limited.port, "127.0.0.2");
  await eventually(async () => extra.closed(), 3000, "the fourth connection closed");
  expect(statusOf(extra.received())).toBe(429);
  expect(extra.received()).toContain(
    "This address has 3 connections open to this proxy already, the most one address may hold; close some, or send more requests on each (keep-alive), then try again.",
  );
  expect(extra.received()).toMatch(/^connection: close\r$/m);
  expect(statusOf(await request(limited.port, "127.0.0.4"))).toBe(200);
  await Bun.sleep(300);
  // the three idle ones were not touched
  expect(idle.map((h) => h.closed())).toEqual([false, false, false]);
  await expectLogged(() => limited.stderr(), "429 to 127.0.0.2: a connection turned away");
  expect(await refusedCount(limited.adminUrl, 429)).toBeGreaterThanOrEqual(1);
  // one closed, one may come back
  idle[0]?.socket.destroy();
  await eventually(
    async () => statusOf(await request(limited.port, "127.0.0.2")) === 200,
    3000,
    "a place again for 127.0.0.2",
  );
  release(idle);
});

test("past max_connections new connections are told 503 and closed; those held still answer", async () => {
  // every earlier connection has closed by now, or will within the wait below
  await eventually(
    async () => statusOf(await request(limited.port, "127.0.0.5")) === 200,
    3000,
    "an empty proxy",
  );
  const keptAlive = await holdOpen(limited.port, "127.0.0.2");
  const idle = [
    ...(await Promise.all([1, 2].map(() => holdOpen(limited.port, "127.0.0.2")))),
    ...(await Promise.all([1, 2, 3].map(() => holdOpen(limited.port, "127.0.0.4")))),
  ];
  const extra = await holdOpen(limited.port, "127.0.0.5");
  await eventually(async () => extra.closed(), 3000, "the seventh connection closed");
  expect(statusOf(extra.received())).toBe(503);
  expect(extra.received()).toContain(
    "This proxy holds 6 connections, the most it takes at once; try again in a moment.",
  );
  expect(extra.received()).toMatch(/^retry-after: 1\r$/m);
  // a connection already held is answered as ever
  keptAlive.socket.write("GET /plain HTTP/1.1\r\nHost: shop.test\r\n\r\n");
  await eventually(async () => statusOf(keptAlive.received()) === 200, 3000, "the held one");
  release([keptAlive, ...idle]);
  await eventually(
    async () => statusOf(await request(limited.port, "127.0.0.5")) === 200,
    3000,
    "a place again once they left",
  );
});

test("a flood past the open-file limit is turned away: no spinning, and visitors are served once it leaves", async () => {
  // a process that may open 300 files keeps 60 for visitors (auto); before, its listener
  // spun on accept() at 100% CPU once the files ran out, and answered no one
  const small = await startProxy(redis, `${FAST}proxy: { max_connections_per_address: 0 }\n`, ONE, [
    "prlimit",
    "--nofile=300:300",
    "--",
  ]);
  expect(small.started).toContain("at most 60 connections a process");
  const flood: Held[] = [];
  for (let i = 0; i < 8; i++)
    flood.push(
      ...(await Promise.all(Array.from({ length: 50 }, () => holdOpen(small.port, "127.0.0.2")))),
    );
  await eventually(
    async () => flood.filter((h) => h.closed()).length >= 340,
    5000,
    "all but 60 of 400 turned away",
  );
  const turnedAway = flood.filter((h) => h.closed());
  expect(turnedAway.every((h) => statusOf(h.received()) === 503)).toBe(true);
  const before = cpuSeconds(small.pid);
  await Bun.sleep(2000);
  // idle but for its health checks; spinning, it took the whole two seconds of a core
  expect(cpuSeconds(small.pid) - before).toBeLessThan(0.5);
  expect(flood.filter((h) => !h.closed()).length).toBe(60);
  release(flood);
  await eventually(
    async () => statusOf(await request(small.port, "127.0.0.4")) === 200,
    3000,
    "a visitor served once the flood left",
  );
  await small.stop();
}, 30_000);

test("HTTPS: over the limit a connection is closed before its handshake, with one certificate or several; plain HTTP beside it counts too", async () => {
  const dir = fileTempDir("dropship-connections-");
  /** A certificate of its own for `name`, stored for the proxy; its PEM, to trust it. */
  const certificate = async (name: string) => {
    const [certFile, keyFile] = [join(dir, `${name}.pem`), join(dir, `${name}.key`)];
    selfSigned({ certFile, keyFile, commonName: name, names: [`DNS:${name}`], days: 2 });
    const cert = readFileSync(certFile, "utf8");
    await storeCertificate(
      state,
      name,
      { cert, key: readFileSync(keyFile, "utf8") },
      { issuer: `CN=${name}` },
    );
    return cert;
  };
  const ca: Record<string, string> = { "shop.test": await certificate("shop.test") };
  const httpsPort = freePort();
  const secure = await startProxy(
    redis,
    `${FAST}proxy: { max_connections_per_address: 2, tls: { domains: [shop.test, www.shop.test] } }\n`,
    { ...ONE, DROPSHIP_HTTPS_PORT: String(httpsPort) },
  );
  const handshake = (from: string, name: string) =>
    new Promise<tls.TLSSocket | string>((resolve) => {
      // node's types leave localAddress out of TLS options; it is passed to the TCP socket
      const options = { host: "127.0.0.1", port: httpsPort, servername: name, ca: ca[name] };
      const socket = tls.connect({ ...options, localAddress: from } as tls.ConnectionOptions, () =>
        resolve(socket),
      );
      socket.on("error", (error) => resolve(error.message));
      socket.on("close", () => resolve("closed before the handshake"));
    });
  const heldTwice = async (name: string) => {
    const two = await Promise.all([handshake("127.0.0.2", name), handshake("127.0.0.2", name)]);
    expect(two.map((s) => typeof s)).toEqual(["object", "object"]);
    // cut off at once (a reset, or a close) with no handshake; the client says the close
    // itself when it comes before the close event (seen on a busy machine)
    expect(await handshake("127.0.0.2", name)).toMatch(
      /^(closed before the handshake|.*ECONNRESET|Client network socket disconnected before secure TLS connection was established)/,
    );
    return two as tls.TLSSocket[];
  };

  // one certificate: the own front terminates TLS
  await eventually(
    async () =>
      secure.stderr().includes("HTTPS for shop.test is answered by the proxy's own front"),
    5000,
    "the own front on HTTPS",
  );
  const two = await heldTwice("shop.test");
  // the address's two are held on the HTTPS port: on port 80 it is over its limit as well
  expect(statusOf(await request(secure.port, "127.0.0.2", "/basket"))).toBe(429);
  // another address: HTTPS served, and port 80 answered by the listener behind (a redirect)
  const other = await handshake("127.0.0.4", "shop.test");
  expect(typeof other).toBe("object");
  (other as tls.TLSSocket).destroy();
  const redirect = await request(secure.port, "127.0.0.4", "/basket");
  expect(redirect).toContain(`Location: https://shop.test:${httpsPort}/basket`);
  for (const socket of two) socket.destroy();

  // a second name's own certificate: Bun.serve chooses by SNI, behind a front that counts
  ca["www.shop.test"] = await certificate("www.shop.test");
  await eventually(
    async () =>
      secure.stderr().includes("HTTPS for shop.test, www.shop.test is answered by Bun.serve"),
    5000,
    "Bun.serve for two certificates",
  );
  // the listener replaced keeps accepting for its 2 s of grace
  await Bun.sleep(2500);
  const twoMore = await heldTwice("www.shop.test");
  const visitor = await handshake("127.0.0.4", "www.shop.test");
  expect(typeof visitor).toBe("object");
  const before = upstream.received.length;
  const answer = await new Promise<string>((resolve) => {
    let text = "";
    const socket = visitor as tls.TLSSocket;
    socket.on("data", (data: Buffer) => {
      text += data.toString("latin1");
    });
    socket.on("close", () => resolve(text));
    socket.write("GET /plain HTTP/1.1\r\nHost: www.shop.test\r\nConnection: close\r\n\r\n");
  });
  expect(statusOf(answer)).toBe(200);
  // Bun.serve behind the front still knows whose request it is
  expect(upstream.received.slice(before).map((r) => r.headers["x-forwarded-for"])).toEqual([
    "127.0.0.4",
  ]);
  for (const socket of twoMore) socket.destroy();
  await secure.stop();
}, 30_000);

test("behind a PROXY-protocol balancer each visitor the header names is counted, never the balancer", async () => {
  const behind = await startProxy(
    redis,
    `${FAST}proxy: { proxy_protocol: true, trusted_proxies: [127.0.0.3/32], max_connections_per_address: 2 }\n`,
    ONE,
  );
  const header = (source: string) =>
    source.includes(":")
      ? `PROXY TCP6 ${source} ::1 4000 80\r\n`
      : `PROXY TCP4 ${source} 127.0.0.1 4000 80\r\n`;
  // the balancer's four connections: two for one visitor, then one more for them, one for another
  const visitor = await Promise.all(
    [1, 2].map(() => holdOpen(behind.port, "127.0.0.3", header("203.0.113.9"))),
  );
  const third = await holdOpen(behind.port, "127.0.0.3", header("203.0.113.9"));
  await eventually(async () => third.closed(), 3000, "the visitor's third connection closed");
  expect(third.received()).toBe("");
  await expectLogged(() => behind.stderr(), "429 to 203.0.113.9: a connection turned away");
  const another = await holdOpen(behind.port, "127.0.0.3", header("203.0.113.10") + GET("/plain"));
  await eventually(async () => another.closed(), 3000, "another visitor's answer");
  expect(statusOf(another.received())).toBe(200);
  expect(visitor.map((h) => h.closed())).toEqual([false, false]);
  // over IPv6 a visitor is their /64: a new address from it for each connection counts as one
  const sixes = await Promise.all(
    ["2001:db8:1:2::1", "2001:db8:1:2::2"].map((source) =>
      holdOpen(behind.port, "127.0.0.3", header(source)),
    ),
  );
  const sameNetwork = await holdOpen(behind.port, "127.0.0.3", header("2001:db8:1:2:ffff::3"));
  await eventually(async () => sameNetwork.closed(), 3000, "a third connection from the /64");
  await expectLogged(
    () => behind.stderr(),
    "429 to 2001:db8:1:2:ffff::3: a connection turned away",
  );
  const otherNetwork = await holdOpen(
    behind.port,
    "127.0.0.3",
    header("2001:db8:1:3::1") + GET("/plain"),
  );
  await eventually(async () => otherNetwork.closed(), 3000, "another /64's answer");
  expect(statusOf(otherNetwork.received())).toBe(200);
  release([...visitor, ...sixes]);
  await behind.stop();
}, 30_000);
