import { afterAll, expect, test } from "bun:test";
import { X509Certificate } from "node:crypto";
import { connect as tlsConnect } from "node:tls";
import { putCertificate } from "../../../../server/shared/state/tls.ts";
import { freePort } from "../../../helpers/ports.ts";
import { addBackend, startProxy } from "../../../helpers/proxy.ts";
import { connectTo, startRedis } from "../../../helpers/redis.ts";
import { eventually } from "../../../helpers/server.ts";
import { testCa } from "../../../helpers/test-ca.ts";
import { fileTempDir } from "../../../helpers/tmp.ts";

// HTTPS through the proxy's own front: while one certificate is served (for one name, or one
// naming several), the front on raw sockets terminates TLS itself (Bun.listen takes one
// certificate); a second certificate moves the port to Bun.serve, which chooses one by SNI.
const dir = fileTempDir("dropship-tls-front-");
const { ca, issue } = testCa(dir);
const first = issue("shop.test", "first");
const second = issue("shop.test", "second");
const www = issue("www.shop.test", "www");
const both = issue("shop.test", "both", 2, ["www.shop.test"]);

const redis = await startRedis();
const state = await connectTo(redis);
/** The app: what each request carried, and a WebSocket echo at /ws. */
const received: { method: string; path: string; headers: Record<string, string>; body: string }[] =
  [];
const app = Bun.serve({
  port: 0,
  hostname: "127.0.0.1",
  async fetch(request, server) {
    const url = new URL(request.url);
    if (url.pathname === "/healthz") return new Response("ok");
    const headers = Object.fromEntries(request.headers);
    received.push({
      method: request.method,
      path: url.pathname,
      headers,
      body: await request.text(),
    });
    if (url.pathname === "/ws" && server.upgrade(request, { data: undefined })) return undefined;
    return new Response(`app ${url.pathname}`);
  },
  websocket: {
    message(ws, message) {
      ws.send(`echo: ${message}`);
    },
  },
});
afterAll(() => app.stop(true));
await addBackend(state, "production", `http://127.0.0.1:${app.port}`);
const store = (domain: string, pair: { cert: string; key: string }) =>
  putCertificate(state, domain, {
    ...pair,
    notAfter: new Date(Date.now() + 2 * 86_400_000).toISOString(),
    issuedAt: new Date().toISOString(),
    issuer: `CN=${domain}`,
  });
await store("shop.test", first);
const httpsPort = freePort();
const proxy = await startProxy(
  redis,
  "health: { interval: 200ms, timeout: 1s }\n" +
    "proxy: { idle_timeout: 2s, tls: { domains: [shop.test, www.shop.test], hsts: 365d } }\n",
  { DROPSHIP_HTTPS_PORT: String(httpsPort), DROPSHIP_PROXY_WORKERS: "1" },
);
const OWN = "HTTPS for shop.test is answered by the proxy's own front";

/** Sends `text` over TLS (SNI `name`, trusting `ca`) and collects the answer until the close. */
function exchange(
  text: string | string[],
  options: { name?: string; localAddress?: string } = {},
): Promise<{ answer: string; fingerprint: string }> {
  const { name = "shop.test", localAddress } = options;
  return new Promise((resolve, reject) => {
    let answer = "";
    let fingerprint = "";
    const socket = tlsConnect(
      {
        host: "127.0.0.1",
        port: httpsPort,
        servername: name,
        ca,
        ...(localAddress ? { localAddress } : {}),
      },
      () => {
        fingerprint = socket.getPeerCertificate().fingerprint256;
        // several pieces: each a write (a TLS record) of its own, 20 ms apart
        const pieces = typeof text === "string" ? [text] : text;
        pieces.forEach((piece, i) => {
          setTimeout(() => socket.write(piece), i * 20);
        });
      },
    );
    socket.setTimeout(10_000, () => socket.destroy(new Error("no close within 10 s")));
    socket.on("data", (data: Buffer) => {
      answer += data.toString("latin1");
    });
    socket.on("error", reject);
    socket.on("close", () => resolve({ answer, fingerprint }));
  });
}

test("one certificate: the own front answers HTTPS, pipelined in order, as HTTPS to the app", async () => {
  await eventually(async () => proxy.stderr().includes(OWN), 5000, "the own front on HTTPS");
  const before = received.length;
  const { answer } = await exchange(
    "GET /one HTTP/1.1\r\nHost: shop.test\r\n\r\n" +
      "GET /two HTTP/1.1\r\nHost: shop.test\r\nConnection: close\r\n\r\n",
  );
  const statuses = [...answer.matchAll(/HTTP\/1\.1 (\d{3}) /g)].map((m) => m[1]);
  expect(statuses).toEqual(["200", "200"]);
  expect(answer).toMatch(/^strict-transport-security: max-age=31536000\r$/im);
  expect(answer).toMatch(/^set-cookie: dropship_client=[^\r]*; Secure\r$/im);
  const seen = received.slice(before);
  expect(seen.map((r) => r.path)).toEqual(["/one", "/two"]);
  expect(seen[0]?.headers).toMatchObject({
    "x-forwarded-proto": "https",
    "x-forwarded-for": "127.0.0.1",
    host: "shop.test",
  });
}, 30_000);

test("a small form posted over TLS, its head and body in two records, is answered by the front itself as HTTPS, with the visitor's address", async () => {
  const before = received.length;
  const body = "item=7&quantity=2";
  const { answer } = await exchange(
    [
      `POST /order HTTP/1.1\r\nHost: shop.test\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n`,
      body,
    ],
    { localAddress: "127.0.0.2" },
  );
  expect(answer).toStartWith("HTTP/1.1 200 ");
  // the front writes its fields in lower case, Bun.serve behind it capitalized
  expect(answer).toContain("\r\ncontent-length: ");
  expect(answer).toMatch(/^strict-transport-security: max-age=31536000\r$/im);
  expect(answer).toMatch(/^set-cookie: dropship_client=[^\r]*; Secure\r$/im);
  const posted = received.slice(before);
  expect(posted).toHaveLength(1);
  expect(posted[0]).toMatchObject({ method: "POST", path: "/order", body });
  expect(posted[0]?.headers).toMatchObject({
    "x-forwarded-proto": "https",
    "x-forwarded-for": "127.0.0.2",
    "content-length": String(body.length),
  });
}, 30_000);

test("what the own front passes on over TLS (a chunked body, the proxy's paths) is answered behind it as HTTPS, with the visitor's address", async () => {
  const before = received.length;
  const body = "item=7";
  // from another loopback address: the listener behind sees 127.0.0.1, the front the visitor
  const { answer } = await exchange(
    `POST /basket HTTP/1.1\r\nHost: shop.test\r\nContent-Type: application/x-www-form-urlencoded\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n${body.length.toString(16)}\r\n${body}\r\n0\r\n\r\n`,
    { localAddress: "127.0.0.2" },
  );
  expect(answer).toStartWith("HTTP/1.1 200 ");
  expect(answer).toContain("\r\nContent-Length: ");
  expect(answer).toMatch(/^strict-transport-security: max-age=31536000\r$/im);
  const posted = received.slice(before);
  expect(posted).toHaveLength(1);
  expect(posted[0]).toMatchObject({ method: "POST", path: "/basket", body });
  expect(posted[0]?.headers).toMatchObject({
    "x-forwarded-proto": "https",
    "x-forwarded-for": "127.0.0.2",
  });
  const health = await exchange(
    "GET /_dropship/healthz HTTP/1.1\r\nHost: shop.test\r\nConnection: close\r\n\r\n",
  );
  expect(health.answer).toStartWith("HTTP/1.1 200 ");
}, 30_000);

test("over TLS too, a request line Bun.serve would drop is answered by the front with what to send", async () => {
  const before = received.length;
  const { answer } = await exchange("get /lower HTTP/1.1\r\nHost: shop.test\r\n\r\n");
  expect(answer).toStartWith("HTTP/1.1 501 Not Implemented\r\n");
  expect(answer).toContain("connection: close\r\n");
  expect(answer).toEndWith("methods are case-sensitive (GET, not get).\n");
  expect(received.length).toBe(before);
}, 30_000);

test("a connection that never finishes its TLS hello is closed by idle_timeout; others are served meanwhile", async () => {
  const closedAfter = (hello: Uint8Array | undefined) =>
    new Promise<number>((resolve, reject) => {
      const opened = performance.now();
      Bun.connect({
        hostname: "127.0.0.1",
        port: httpsPort,
        socket: {
          open(socket) {
            if (hello) socket.write(hello);
          },
          data() {},
          close() {
            resolve(performance.now() - opened);
          },
          error() {
            resolve(performance.now() - opened);
          },
        },
      }).catch(reject);
    });
  // silent, and the first bytes of a ClientHello's record and no more
  const silent = closedAfter(undefined);
  const partial = closedAfter(new Uint8Array([0x16, 0x03, 0x01, 0x02, 0x00]));
  const meanwhile = await exchange(
    "GET / HTTP/1.1\r\nHost: shop.test\r\nConnection: close\r\n\r\n",
  );
  expect(meanwhile.answer).toStartWith("HTTP/1.1 200 ");
  // idle_timeout 2 s, on a timer that ticks every 4 s
  const [silentMs, partialMs] = await Promise.all([silent, partial]);
  expect(silentMs).toBeGreaterThan(1500);
  expect(silentMs).toBeLessThan(12_000);
  expect(partialMs).toBeGreaterThan(1500);
  expect(partialMs).toBeLessThan(12_000);
}, 30_000);

test("a WebSocket over TLS is passed behind the own front and echoes", async () => {
  const socket = new WebSocket(`wss://127.0.0.1:${httpsPort}/ws`, {
    headers: { host: "shop.test" },
    tls: { ca, serverName: "shop.test" },
  } as unknown as string[]);
  const echoed = new Promise<string>((resolve, reject) => {
    socket.addEventListener("open", () => socket.send("hello"));
    socket.addEventListener("message", (event) => resolve(String(event.data)));
    socket.addEventListener("error", () => reject(new Error("the WebSocket failed")));
  });
  expect(await echoed).toBe("echo: hello");
  socket.close();
  expect(received.at(-1)?.headers).toMatchObject({ "x-forwarded-proto": "https" });
}, 30_000);

test("a new certificate takes over with no failed request; a second name's own moves HTTPS to Bun.serve and SNI, one naming both brings it back to the own front", async () => {
  // as on the proxy droplet (proxy.yml): connections queued on a closing listener move on
  const migrate = Bun.spawnSync(["sysctl", "-n", "net.ipv4.tcp_migrate_req"])
    .stdout.toString()
    .trim();
  Bun.spawnSync(["sysctl", "-qw", "net.ipv4.tcp_migrate_req=1"]);
  afterAll(() => Bun.spawnSync(["sysctl", "-qw", `net.ipv4.tcp_migrate_req=${migrate}`]));
  const failures: string[] = [];
  let ok = 0;
  let running = true;
  const client = async (fresh: boolean) => {
    while (running) {
      try {
        const response = await fetch(`https://127.0.0.1:${httpsPort}/`, {
          headers: { host: "shop.test" },
          tls: { ca, serverName: "shop.test" },
          keepalive: !fresh,
        });
        await response.arrayBuffer();
        if (response.status === 200) ok++;
        else failures.push(String(response.status));
      } catch (error) {
        failures.push(`${fresh ? "fresh" : "kept"}: ${(error as Error).message.slice(0, 60)}`);
      }
    }
  };
  const clients = [...Array(6)].map((_, i) => client(i % 2 === 0));
  const served = async (name: string) =>
    (await exchange(`GET / HTTP/1.1\r\nHost: ${name}\r\nConnection: close\r\n\r\n`, { name }))
      .fingerprint;
  const print = (pem: string) => new X509Certificate(pem).fingerprint256;
  await Bun.sleep(300);
  await store("shop.test", second);
  await eventually(
    async () => (await served("shop.test")) === print(second.cert),
    5000,
    "the new certificate",
  );
  await Bun.sleep(300);
  await store("www.shop.test", www);
  await eventually(
    async () =>
      proxy.stderr().includes("HTTPS for shop.test, www.shop.test is answered by Bun.serve"),
    5000,
    "Bun.serve for two names",
  );
  await eventually(
    async () => (await served("www.shop.test")) === print(www.cert),
    5000,
    "www.shop.test's certificate",
  );
  // a replaced listener keeps accepting, with its certificate, for its 2 s of grace; after
  // that every new connection meets the one in use: five in a row for each name
  const fiveInARow = (shop: string, wwwShop: string) => async () => {
    for (let i = 0; i < 5; i++) {
      if ((await served("shop.test")) !== print(shop)) return false;
      if ((await served("www.shop.test")) !== print(wwwShop)) return false;
    }
    return true;
  };
  await Bun.sleep(2000);
  await eventually(
    fiveInARow(second.cert, www.cert),
    10_000,
    "each name's current certificate, five times running",
  );
  // one certificate naming both (as the issuer asks for): the own front serves both names
  await store("shop.test", both);
  await store("www.shop.test", both);
  await eventually(
    async () =>
      proxy
        .stderr()
        .includes("HTTPS for shop.test, www.shop.test is answered by the proxy's own front"),
    5000,
    "the own front for two names",
  );
  await Bun.sleep(2000);
  await eventually(
    fiveInARow(both.cert, both.cert),
    10_000,
    "the certificate naming both, five times running",
  );
  running = false;
  await Promise.all(clients);
  expect(failures).toEqual([]);
  expect(ok).toBeGreaterThan(50);
}, 60_000);
