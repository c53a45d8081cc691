import { expect, test } from "bun:test";
import { resolve } from "node:path";
import { runAsync } from "../../../server/shared/proc.ts";
import { readAudit } from "../../../server/shared/state/audit.ts";
import { putChallenge } from "../../../server/shared/state/tls.ts";
import { freePort } from "../../helpers/ports.ts";
import { addBackend, admin, startProxy } from "../../helpers/proxy.ts";
import { rawRequest, statusOf } from "../../helpers/raw.ts";
import { connectTo, startRedis } from "../../helpers/redis.ts";
import { eventually } from "../../helpers/server.ts";
import { storeCertificate, testCa } from "../../helpers/test-ca.ts";
import { fileTempDir } from "../../helpers/tmp.ts";
import { startUpstream } from "../../helpers/upstream.ts";

// Maintenance mode through a real proxy, turned on and off with bun run maintenance.
const ROOT = resolve(import.meta.dir, "../../..");
const redis = await startRedis();
const state = await connectTo(redis);
const app = startUpstream("app");
await addBackend(state, "production", app.url);
const proxy = await startProxy(redis);
// a second proxy serving shop.test over HTTPS (a certificate of a test CA of this file's own)
const ca = testCa(fileTempDir("dropship-maintenance-"));
const site = ca.issue("shop.test", "site");
await storeCertificate(state, "shop.test", site, { days: 1 });
const httpsPort = freePort();
const secure = await startProxy(
  redis,
  "health: { interval: 200ms, timeout: 1s }\nproxy: { tls: { domains: [shop.test] } }\n",
  { DROPSHIP_HTTPS_PORT: String(httpsPort) },
);

/** The command, run without blocking: the app above answers the proxy's health checks meanwhile. */
async function maintenance(...args: string[]) {
  const { code, stdout, stderr } = await runAsync(
    [process.execPath, resolve(ROOT, "scripts/maintenance.ts"), ...args],
    {
      cwd: ROOT,
      env: { PATH: process.env.PATH ?? "", REDIS_URL: redis.url, DROPSHIP_ACTOR: "ann@laptop" },
    },
  );
  return { code, out: stdout, err: stderr };
}

const statusNow = async (path = "/") => {
  const response = await fetch(`${proxy.url}${path}`);
  await response.arrayBuffer();
  return response.status;
};

test("on: every app request gets the page with its message, and the app gets none; the proxy's own paths go on; off: served again", async () => {
  expect((await maintenance()).out).toBe("off: the app serves every request (never turned on)\n");
  expect(await statusNow()).toBe(200);

  const on = await maintenance(
    "on",
    "Moving",
    "to",
    "a",
    "new",
    "<database>,",
    "back",
    "by",
    "15:00.",
  );
  expect(on.err).toBe("");
  expect(on.code).toBe(0);
  expect(on.out).toMatch(
    /^maintenance: off → on\non since \S+ \(by ann@laptop\): every app request is answered 503 with “Moving to a new <database>, back by 15:00\.”\n$/,
  );
  await eventually(async () => (await statusNow()) === 503, 5000, "the proxy in maintenance");
  const before = app.received.length;

  const page = await fetch(`${proxy.url}/basket?id=1`, { headers: { cookie: "x=1" } });
  expect(page.status).toBe(503);
  expect(page.headers.get("content-type")).toBe("text/html; charset=utf-8");
  expect(page.headers.get("retry-after")).toBe("60");
  expect(page.headers.get("cache-control")).toBe("no-store");
  expect(page.headers.get("x-request-id")).toMatch(/^[\w-]{8,}$/);
  // no visitor cookie is handed out for a page that is no track's
  expect(page.headers.get("set-cookie")).toBeNull();
  const html = await page.text();
  expect(html).toContain("<p>Moving to a new &#60;database&#62;, back by 15:00.</p>");

  // on raw sockets: the own front's GET, a HEAD, an upload (the listener behind), a WebSocket
  // upgrade and a second request on the same connection all get it; nothing reaches the app
  const head = "Host: shop.test\r\n";
  const get = await rawRequest(proxy.url, `GET / HTTP/1.1\r\n${head}\r\n`);
  expect(statusOf(get)).toBe(503);
  expect(get).toMatch(/\r\ncontent-length: \d+\r\n/i);
  expect(get).toContain("Down for maintenance");
  const headOnly = await rawRequest(proxy.url, `HEAD / HTTP/1.1\r\n${head}\r\n`);
  expect(statusOf(headOnly)).toBe(503);
  expect(headOnly).not.toContain("Down for maintenance");
  const upload = await rawRequest(
    proxy.url,
    `POST /orders HTTP/1.1\r\n${head}Content-Type: application/json\r\nContent-Length: 13\r\n\r\n{"order": 42}`,
  );
  expect(statusOf(upload)).toBe(503);
  expect(upload).toContain("Down for maintenance");
  const upgrade = await rawRequest(
    proxy.url,
    `GET /live HTTP/1.1\r\n${head}Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n`,
  );
  expect(statusOf(upgrade)).toBe(503);
  const twice = await rawRequest(
    proxy.url,
    `GET /a HTTP/1.1\r\n${head}\r\nGET /b HTTP/1.1\r\n${head}\r\n`,
  );
  expect(twice.match(/^HTTP\/1\.1 503 /gm)).toHaveLength(2);
  expect(app.received.length).toBe(before);

  // what the proxy answers itself goes on: its health and admin here; a certificate's
  // challenge on a site with HTTPS, whose own TLS front gives visitors the page
  expect(await statusNow("/_dropship/healthz")).toBe(200);
  await putChallenge(state, "tok-1", "tok-1.answer", 60_000);
  const challenge = await fetch(`${secure.url}/.well-known/acme-challenge/tok-1`);
  expect(challenge.status).toBe(200);
  expect(await challenge.text()).toBe("tok-1.answer");
  const redirect = await fetch(`${secure.url}/basket`, {
    headers: { host: "shop.test" },
    redirect: "manual",
  });
  expect(redirect.status).toBe(308);
  const overTls = await fetch(`https://127.0.0.1:${httpsPort}/basket`, {
    headers: { host: "shop.test" },
    tls: { ca: ca.ca, serverName: "shop.test" },
  });
  expect(overTls.status).toBe(503);
  expect(await overTls.text()).toContain(
    "<p>Moving to a new &#60;database&#62;, back by 15:00.</p>",
  );
  const status = (await (
    await fetch(`${proxy.adminUrl}/_dropship/status`, { headers: admin })
  ).json()) as { maintenance: { on: boolean; message: string | null } };
  expect(status.maintenance).toEqual({
    on: true,
    message: "Moving to a new <database>, back by 15:00.",
  });
  const dashboard = await (await fetch(`${proxy.adminUrl}/_dropship/`, { headers: admin })).text();
  expect(dashboard).toContain("Maintenance is on: every visitor gets the maintenance page (503)");
  // and what its script reads every few seconds, which would otherwise write the canary over it
  const live = (await (
    await fetch(`${proxy.adminUrl}/_dropship/dashboard.json`, { headers: admin })
  ).json()) as { maintenance: { on: boolean } };
  expect(live.maintenance.on).toBe(true);
  // counted, but not as a backend's error: the canary's analysis is no track's business here
  const metrics = await (
    await fetch(`${proxy.adminUrl}/_dropship/metrics`, { headers: admin })
  ).text();
  expect(metrics).toMatch(/backend="maintenance"[^\n]*status="503"[^\n]*\} [1-9]/);

  expect((await maintenance("show")).out).toMatch(
    /^on since \S+ \(by ann@laptop\): every app request is answered 503 with “Moving to a new <database>, back by 15:00\.”\n$/,
  );

  const off = await maintenance("off");
  expect(off.out).toMatch(
    /^maintenance: on → off\noff since \S+ \(by ann@laptop\): the app serves every request\n$/,
  );
  await eventually(async () => (await statusNow()) === 200, 5000, "the proxy out of maintenance");
  expect(app.received.length).toBeGreaterThan(before);

  const audit = await readAudit(state, { kind: "maintenance", limit: 10 });
  expect(audit.map((a) => a.actor)).toEqual(["ann@laptop", "ann@laptop"]);
  expect(JSON.parse(audit[1]?.new ?? "{}")).toMatchObject({ on: true, by: "ann@laptop" });
  expect(JSON.parse(audit[0]?.new ?? "{}")).toMatchObject({ on: false });
});

test("a message that cannot be a page's line is refused with what to do, and nothing changes", async () => {
  expect((await maintenance("off")).code).toBe(0);
  const bad = await maintenance("on", "two\nlines");
  expect(bad.code).toBe(2);
  expect(bad.err).toContain(
    "the message holds a control character (a newline, a tab): write it as one line",
  );
  const long = await maintenance("on", "x".repeat(501));
  expect(long.code).toBe(2);
  expect(long.err).toContain("the message has 501 characters; keep it to 500");
  expect((await maintenance("off", "now")).err).toContain("unexpected now");
  expect((await maintenance("sideways")).err).toContain(
    "unknown command sideways — use show, on or off",
  );
  expect((await maintenance("show")).out).toMatch(/^off /);
  expect(await statusNow()).toBe(200);
  // without a message, the default sentence
  expect((await maintenance("on")).out).toContain(
    "with “This site is down for maintenance and will be back shortly.”",
  );
  await eventually(async () => (await statusNow()) === 503, 5000, "the proxy in maintenance");
  await maintenance("off");
  await eventually(async () => (await statusNow()) === 200, 5000, "the proxy out of maintenance");
});
