import { afterAll, expect, test } from "bun:test";
import { readFileSync, writeFileSync } from "node:fs";
import net from "node:net";
import { join } from "node:path";
import tls from "node:tls";
import { selfSigned } from "../../../scripts/lib/certificates.ts";
import { freePort } from "../../helpers/ports.ts";
import { addBackend, startProxy } from "../../helpers/proxy.ts";
import { statusOf } from "../../helpers/raw.ts";
import { connectTo, startRedis } from "../../helpers/redis.ts";
import { eventually } from "../../helpers/server.ts";
import { storeCertificate } from "../../helpers/test-ca.ts";
import { fileTempDir } from "../../helpers/tmp.ts";
import { startUpstream } from "../../helpers/upstream.ts";

// Loopback addresses as hosts: the load balancer connects from 127.0.0.3 (the one trusted
// block), a visitor from 127.0.0.5, a stranger from 127.0.0.1.
const BALANCER = "127.0.0.3";
const VISITOR = "127.0.0.5";
const dir = fileTempDir("dropship-proxy-protocol-");
selfSigned({
  certFile: join(dir, "site.pem"),
  keyFile: join(dir, "site.key"),
  commonName: "shop.test",
  names: ["DNS:shop.test"],
  days: 2,
});
const ca = readFileSync(join(dir, "site.pem"), "utf8");

const redis = await startRedis();
const state = await connectTo(redis);
const upstream = startUpstream("app");
await addBackend(state, "production", upstream.url);
await storeCertificate(
  state,
  "shop.test",
  { cert: ca, key: readFileSync(join(dir, "site.key"), "utf8") },
  { issuer: "CN=shop.test" },
);
const TRUSTING = `health: { interval: 200ms, timeout: 1s }\nproxy: { proxy_protocol: true, trusted_proxies: [${BALANCER}/32]`;
const plain = await startProxy(redis, `${TRUSTING} }\n`);
const httpsPort = freePort();
await startProxy(redis, `${TRUSTING}, tls: { domains: [shop.test] } }\n`, {
  DROPSHIP_HTTPS_PORT: String(httpsPort),
});

// HAProxy (Debian's) in front as the load balancer: TCP passed through, PROXY v1 to the HTTP
// port and v2 to the HTTPS one, from the balancer's address
const haproxy = Bun.which("haproxy", { PATH: `${process.env.PATH}:/usr/sbin` });
if (!haproxy) throw new Error("haproxy is not installed: apt-get install haproxy");
const [lbPlain, lbTls] = [freePort(), freePort()];
writeFileSync(
  join(dir, "haproxy.cfg"),
  [
    "defaults",
    "  mode tcp",
    "  timeout connect 3s",
    "  timeout client 30s",
    "  timeout server 30s",
    "listen plain",
    `  bind 127.0.0.1:${lbPlain}`,
    `  server proxy 127.0.0.1:${plain.port} send-proxy source ${BALANCER}`,
    "listen tls",
    `  bind 127.0.0.1:${lbTls}`,
    `  server proxy 127.0.0.1:${httpsPort} send-proxy-v2 source ${BALANCER}`,
    "",
  ].join("\n"),
);
const balancer = Bun.spawn([haproxy, "-db", "-f", join(dir, "haproxy.cfg")], {
  stdout: "inherit",
  stderr: "inherit",
});
afterAll(() => balancer.kill());
const listening = async (port: number) => {
  try {
    (await Bun.connect({ hostname: "127.0.0.1", port, socket: { data() {} } })).end();
    return true;
  } catch {
    return false;
  }
};
await eventually(
  async () => (await listening(lbPlain)) && (await listening(lbTls)),
  10_000,
  "HAProxy listening",
);

/** What a connection from `from` to `port` reads after sending `parts` (a pause between). */
async function exchange(
  from: string,
  port: number,
  parts: (string | Uint8Array)[],
  { secure = false, quietMs = 300, pauseMs = 0 } = {},
): Promise<{ text: string; closed: boolean }> {
  const socket = net.connect({ host: "127.0.0.1", port, localAddress: from });
  await new Promise<void>((resolve, reject) => {
    socket.once("connect", resolve);
    socket.once("error", reject);
  });
  for (const [i, part] of parts.entries()) {
    if (i > 0 && pauseMs > 0) await Bun.sleep(pauseMs);
    socket.write(part);
  }
  const stream = secure ? tls.connect({ socket, servername: "shop.test", ca }) : socket;
  let text = "";
  let closed = false;
  stream.on("data", (chunk: Buffer) => {
    text += chunk.toString("latin1");
  });
  stream.on("close", () => {
    closed = true;
  });
  stream.on("error", () => {
    closed = true;
  });
  if (secure) stream.write(request("/secure"));
  let length = -1;
  while (!closed && length !== text.length) {
    length = text.length;
    await Bun.sleep(quietMs);
  }
  stream.destroy();
  return { text, closed };
}

const request = (path: string, extra = "") =>
  `GET ${path} HTTP/1.1\r\nHost: shop.test\r\n${extra}\r\n`;
const receivedAt = (path: string) => upstream.received.find((r) => r.path === path);

test("through a load balancer sending the PROXY protocol, the app sees the visitor over HTTP and HTTPS", async () => {
  const overHttp = await exchange(VISITOR, lbPlain, [request("/plain")]);
  expect(statusOf(overHttp.text)).toBe(200);
  expect(receivedAt("/plain")?.headers["x-forwarded-for"]).toBe(VISITOR);
  expect(receivedAt("/plain")?.headers["x-forwarded-proto"]).toBe("http");

  const overHttps = await exchange(VISITOR, lbTls, [], { secure: true });
  expect(statusOf(overHttps.text)).toBe(200);
  expect(receivedAt("/secure")?.headers["x-forwarded-for"]).toBe(VISITOR);
  expect(receivedAt("/secure")?.headers["x-forwarded-proto"]).toBe("https");
});

test("a connection without a header is served under its own address: health checks, direct visitors", async () => {
  const direct = await exchange("127.0.0.1", plain.port, [request("/direct")]);
  expect(statusOf(direct.text)).toBe(200);
  expect(receivedAt("/direct")?.headers["x-forwarded-for"]).toBe("127.0.0.1");
  const health = await fetch(`${plain.url}/_dropship/healthz`);
  expect(health.status).toBe(200);
});

test("each request on a kept-alive connection is the header's visitor; v2 names IPv6 ones", async () => {
  const six = [0x20, 0x01, 0x0d, 0xb8, ...Array(11).fill(0), 9, ...Array(16).fill(0), 0, 1, 0, 80];
  const headerThenRequest = new Uint8Array([
    ...[0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a],
    ...[0x21, 0x21, 0, 36, ...six],
    ...new TextEncoder().encode(request("/six-1")),
  ]);
  // one after the other: Bun.serve closes a connection that pipelines behind a pending answer
  const second = request("/six-2", "Connection: close\r\n");
  const both = await exchange(BALANCER, plain.port, [headerThenRequest, second], { pauseMs: 300 });
  expect(both.text.match(/HTTP\/1\.1 200/g)?.length).toBe(2);
  expect(receivedAt("/six-1")?.headers["x-forwarded-for"]).toBe("2001:db8::9");
  expect(receivedAt("/six-2")?.headers["x-forwarded-for"]).toBe("2001:db8::9");
});

test("a header from outside trusted_proxies is a forged address: closed, and nothing reaches the app", async () => {
  const before = upstream.received.length;
  const forged = await exchange("127.0.0.1", plain.port, [
    `PROXY TCP4 203.0.113.9 127.0.0.1 4000 80\r\n${request("/forged")}`,
  ]);
  expect(forged).toEqual({ text: "", closed: true });
  expect(upstream.received.length).toBe(before);
  await eventually(
    async () =>
      plain.stderr().includes("it sent a PROXY header, but is not in proxy.trusted_proxies"),
    3000,
    "the refusal logged",
  );
});

test("malformed headers from the balancer's own address close that connection only", async () => {
  const before = upstream.received.length;
  const bad = [
    "PROXY TCP4 999.0.113.9 127.0.0.1 4000 80\r\n",
    "PROXY TCP4 203.0.113.9 127.0.0.1 4000\r\n",
    `PROXY UNKNOWN ${"x".repeat(200)}`,
    "PROXY TCP4 203.0.113.9 127.0.0.1 4000 80\n",
  ];
  for (const header of bad) {
    const answer = await exchange(BALANCER, plain.port, [header + request("/bad")]);
    expect(answer).toEqual({ text: "", closed: true });
  }
  const huge = new Uint8Array([
    ...[0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a],
    0x21,
    0x11,
    0xff,
    0xff,
  ]);
  expect(await exchange(BALANCER, plain.port, [huge])).toEqual({ text: "", closed: true });
  expect(upstream.received.length).toBe(before);
  // a header sent a byte at a time is still read whole
  const slow = await exchange(
    BALANCER,
    plain.port,
    [..."PROXY TCP4 198.51.100.4 127.0.0.1 4000 80\r\n", request("/trickled")],
    { pauseMs: 5 },
  );
  expect(statusOf(slow.text)).toBe(200);
  expect(receivedAt("/trickled")?.headers["x-forwarded-for"]).toBe("198.51.100.4");
});

test("a connection that never finishes its header is closed; others are served meanwhile", async () => {
  const stalled = net.connect({ host: "127.0.0.1", port: plain.port, localAddress: BALANCER });
  let closedAt = 0;
  stalled.on("close", () => {
    closedAt = performance.now();
  });
  stalled.on("error", () => undefined);
  const opened = performance.now();
  stalled.write("PROXY TCP4 203.0.113");
  const meanwhile = await exchange(VISITOR, lbPlain, [request("/meanwhile")]);
  expect(statusOf(meanwhile.text)).toBe(200);
  await eventually(async () => closedAt > 0, 20_000, "the stalled connection closed");
  // the header's own timeout (10 s), not the listener's idle timeout (120 s)
  expect(closedAt - opened).toBeLessThan(15_000);
}, 30_000);

test("a large upload and a large answer cross the front whole", async () => {
  const body = new Uint8Array(6 * 1024 * 1024).map((_, i) => (i * 7) % 256);
  const response = await fetch(`http://127.0.0.1:${lbPlain}/upload`, {
    method: "POST",
    body,
    headers: { host: "shop.test" },
  });
  expect(response.status).toBe(200);
  const got = receivedAt("/upload");
  expect(got?.bodyBytes).toBe(body.length);
  expect(got?.bodySha).toBe(new Bun.CryptoHasher("sha256").update(body).digest("hex"));
  const big = await fetch(`http://127.0.0.1:${lbPlain}/big`, { headers: { host: "shop.test" } });
  expect((await big.arrayBuffer()).byteLength).toBe(1024 * 1024);
});

test("HTTPS straight to the proxy, without a header, still works", async () => {
  const direct = await exchange("127.0.0.1", httpsPort, [], { secure: true });
  expect(statusOf(direct.text)).toBe(200);
  expect(upstream.received.at(-1)?.headers["x-forwarded-for"]).toBe("127.0.0.1");
});

/** Pipelined requests from `from` through the balancer, over TLS or not: the answers' text. */
async function pipelined(from: string, port: number, text: string, secure: boolean, count: number) {
  const socket = net.connect({ host: "127.0.0.1", port, localAddress: from });
  await new Promise<void>((resolve, reject) => {
    socket.once("connect", resolve);
    socket.once("error", reject);
  });
  const stream = secure ? tls.connect({ socket, servername: "shop.test", ca }) : socket;
  let answers = "";
  stream.on("data", (chunk: Buffer) => {
    answers += chunk.toString("latin1");
  });
  stream.on("error", () => undefined);
  stream.write(text);
  const until = performance.now() + 5000;
  while ((answers.match(/HTTP\/1\.1 \d{3} /g)?.length ?? 0) < count && performance.now() < until) {
    await Bun.sleep(20);
  }
  stream.destroy();
  return answers.split(/(?=HTTP\/1\.1 \d{3} )/);
}

for (const secure of [false, true]) {
  test(`behind the balancer the own front answers ${secure ? "HTTPS" : "HTTP"}: GETs and a small POST pipelined, each the header's visitor; a chunked body still goes behind it`, async () => {
    const tag = secure ? "s" : "p";
    const answers = await pipelined(
      VISITOR,
      secure ? lbTls : lbPlain,
      `GET /own-${tag}1 HTTP/1.1\r\nHost: shop.test\r\n\r\n` +
        `POST /own-${tag}2 HTTP/1.1\r\nHost: shop.test\r\nContent-Length: 6\r\n\r\norder!` +
        `POST /own-${tag}3 HTTP/1.1\r\nHost: shop.test\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n` +
        `GET /own-${tag}4 HTTP/1.1\r\nHost: shop.test\r\n\r\n`,
      secure,
      4,
    );
    expect(answers.map(statusOf)).toEqual([200, 200, 200, 200]);
    // the own front writes its fields in lower case, Bun.serve behind it capitalized
    expect(answers.map((a) => (a.includes("\r\ncontent-length:") ? "front" : "behind"))).toEqual([
      "front",
      "front",
      "behind",
      "front",
    ]);
    for (const n of [1, 2, 3, 4]) {
      expect(receivedAt(`/own-${tag}${n}`)?.headers["x-forwarded-for"]).toBe(VISITOR);
      expect(receivedAt(`/own-${tag}${n}`)?.headers["x-forwarded-proto"]).toBe(
        secure ? "https" : "http",
      );
    }
    expect(receivedAt(`/own-${tag}2`)?.bodyBytes).toBe(6);
  });
}
