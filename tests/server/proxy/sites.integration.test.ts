import { expect, test } from "bun:test";
import { putChallenge } from "../../../server/shared/state/tls.ts";
import { freePort } from "../../helpers/ports.ts";
import { addBackend, admin, startProxy } from "../../helpers/proxy.ts";
import { rawRequest, statusOf } from "../../helpers/raw.ts";
import { connectTo, startRedis } from "../../helpers/redis.ts";
import { eventually } from "../../helpers/server.ts";
import { storeCertificate, testCa } from "../../helpers/test-ca.ts";
import { fileTempDir } from "../../helpers/tmp.ts";
import { startUpstream } from "../../helpers/upstream.ts";

// A proxy with names (proxy.tls.domains) serves those names only: a Host a stranger makes up
// is refused at the door, on HTTPS and on plain HTTP, and never reaches the app.
const redis = await startRedis();
const state = await connectTo(redis);
const app = startUpstream("app");
await addBackend(state, "production", app.url);
const ca = testCa(fileTempDir("dropship-sites-"));
const site = ca.issue("shop.test", "site", 2, ["www.shop.test"]);
for (const name of ["shop.test", "www.shop.test"]) await storeCertificate(state, name, site);
const httpsPort = freePort();
const proxy = await startProxy(
  redis,
  "health: { interval: 200ms, timeout: 1s }\nproxy: { tls: { domains: [shop.test, WWW.shop.test] } }\n",
  { DROPSHIP_HTTPS_PORT: String(httpsPort) },
);
const secureUrl = `https://127.0.0.1:${httpsPort}`;
const overTls = { tls: { ca: ca.ca, serverName: "shop.test" } };
const MISDIRECTED =
  "The Host field names a site this proxy does not serve; it serves shop.test, www.shop.test.";

const get = (host: string, extra = "") =>
  `GET /basket?x=1 HTTP/1.1\r\nHost: ${host}\r\n${extra}Connection: close\r\n\r\n`;

test("over HTTPS, a Host the proxy does not serve gets 421 whatever the request, and the app sees none of them", async () => {
  await eventually(
    async () => statusOf(await rawRequest(secureUrl, get("shop.test"), overTls)) === 200,
    10_000,
    "HTTPS for shop.test",
  );
  const before = app.received.length;
  const strangers = [
    get("evil.test"),
    get("127.0.0.1"),
    get(`127.0.0.1:${httpsPort}`),
    get("[::1]"),
    get("shop.test.evil.test"),
    get("xshop.test"),
    // a body, an upgrade and an absolute-form target go past the front's fast path
    "POST /orders HTTP/1.1\r\nHost: evil.test\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello",
    "GET /live HTTP/1.1\r\nHost: evil.test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
    "GET http://evil.test/ HTTP/1.1\r\nHost: evil.test\r\nConnection: close\r\n\r\n",
  ];
  for (const request of strangers) {
    const answer = await rawRequest(secureUrl, request, overTls);
    expect(`${statusOf(answer)} ${request.split("\r\n")[1]}`).toBe(
      `421 ${request.split("\r\n")[1]}`,
    );
    expect(answer).toContain(MISDIRECTED);
    expect(answer).not.toMatch(/^set-cookie:/im);
  }
  expect(app.received.length).toBe(before);

  // the names served, as visitors write them: any case, any port, a final dot
  for (const host of [
    "shop.test",
    "SHOP.Test",
    `shop.test:${httpsPort}`,
    "shop.test.",
    "www.shop.test",
  ]) {
    const answer = await rawRequest(secureUrl, get(host), overTls);
    expect(`${statusOf(answer)} ${host}`).toBe(`200 ${host}`);
  }
  expect(app.received.at(-1)?.headers.host).toBe("www.shop.test");
  // and a refusal does not stop the next visitor, nor the same one on a new connection
  expect(statusOf(await rawRequest(secureUrl, get("shop.test"), overTls))).toBe(200);

  // the admin listener is on HTTPS too, with the site's certificate; the workers' counts are
  // summed as they report them
  const refused = async () => {
    const metrics = await fetch(
      `https://127.0.0.1:${new URL(proxy.adminUrl).port}/_dropship/metrics`,
      { headers: admin, ...overTls },
    );
    return /^dropship_proxy_refused_total\{status="421"\} (\d+)$/m.exec(await metrics.text())?.[1];
  };
  await eventually(
    async () => (await refused()) === String(strangers.length),
    5000,
    "421s counted",
  );
});

test("over plain HTTP, only the names served are sent on to HTTPS: no redirect to a stranger's site", async () => {
  const redirect = await rawRequest(proxy.url, get("WWW.shop.test."));
  expect(statusOf(redirect)).toBe(308);
  expect(redirect).toContain(`Location: https://www.shop.test:${httpsPort}/basket?x=1`);
  for (const host of ["evil.test", "127.0.0.1", "shop.test.evil.test"]) {
    const answer = await rawRequest(proxy.url, get(host));
    expect(`${statusOf(answer)} ${host}`).toBe(`421 ${host}`);
    expect(answer).not.toMatch(/^location:/im);
    expect(answer).toContain(MISDIRECTED);
  }
  // what a load balancer and the CA ask for is answered whatever Host they send
  const health = await rawRequest(
    proxy.url,
    get("10.0.0.7").replace("/basket?x=1", "/_dropship/healthz"),
  );
  expect(statusOf(health)).toBe(200);
  await putChallenge(state, "tok-sites", "tok-sites.answer", 60_000);
  const challenge = await rawRequest(
    proxy.url,
    get("127.0.0.1").replace("/basket?x=1", "/.well-known/acme-challenge/tok-sites"),
  );
  expect(statusOf(challenge)).toBe(200);
  expect(challenge).toContain("tok-sites.answer");
});
