// lane: droplets-1 — its droplets boot on emulator network 1, in a droplet lane of its own
import { afterAll, expect, test } from "bun:test";
import { appendFileSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { InventoryRepo } from "../../../gitops/repo.ts";
import { selfSigned } from "../../../scripts/lib/certificates.ts";
import { DnsServer } from "../../../server/emulator/dns.ts";
import { type CertificateDeps, certificateRound } from "../../../server/receiver/certificates.ts";
import { connectRedis, whenReady } from "../../../server/shared/state/redis.ts";
import {
  putCertificate,
  readCertificates,
  readStatuses,
} from "../../../server/shared/state/tls.ts";
import { certificateFacts } from "../../../server/shared/tls/certificate.ts";
import { startPebble } from "../../helpers/pebble.ts";
import { freePort } from "../../helpers/ports.ts";
import { addBackend, admin, startProxy } from "../../helpers/proxy.ts";
import { rawRequest, statusOf } from "../../helpers/raw.ts";
import { startRedis } from "../../helpers/redis.ts";
import { eventually, expectLogged } from "../../helpers/server.ts";
import { fileTempDir } from "../../helpers/tmp.ts";
import { startUpstream } from "../../helpers/upstream.ts";

const ROOT = join(import.meta.dir, "../../..");

// The whole ACME flow with real parts: Let's Encrypt's test CA (pebble) resolving names through
// a real DNS server (dnsmasq), validating HTTP-01 against dropship-proxy, which answers the
// challenges from Redis and serves what the control side stored there; curl as the TLS client.
const dir = fileTempDir("dropship-certs-");
const redis = await startRedis();
const control = connectRedis(redis.url, { purpose: "test", persistent: false });
await whenReady(control, redis.url, 5000);
afterAll(() => control.disconnect());
const app = startUpstream("production");
await addBackend(control, "production", app.url);
const httpsPort = freePort();
const proxy = await startProxy(
  redis,
  "health: { interval: 200ms, timeout: 1s }\nproxy: { tls: { domains: [shop.test, www.shop.test], hsts: 365d } }\n",
  { DROPSHIP_HTTPS_PORT: String(httpsPort) },
);
const dns = new DnsServer(dir, "127.0.0.1", freePort());
await dns.start([
  { name: "shop.test", address: "127.0.0.1" },
  { name: "www.shop.test", address: "127.0.0.1" },
  { name: "elsewhere.test", address: "192.0.2.9" },
  { name: "refused.test", address: "127.0.0.1" },
]);
afterAll(() => dns.stop());
const pebble = await startPebble({
  httpPort: proxy.port,
  dnsServer: `127.0.0.1:${dns.port}`,
  blocklist: ["refused.test"],
});
const rootFile = join(dir, "root.pem");
writeFileSync(rootFile, await pebble.root());

const said: string[] = [];
const mails: { subject: string; text: string }[] = [];
const deps = (over: Partial<CertificateDeps["tls"]> = {}, renewal = {}): CertificateDeps => ({
  redis: control,
  tls: {
    domains: ["shop.test", "www.shop.test"],
    email: "ops@shop.test",
    acme_directory: pebble.directory,
    certificate_file: "",
    key_file: "",
    ...over,
  },
  configDir: dir,
  renewal: {
    renewBeforeMs: 30 * 86_400_000,
    warnBeforeMs: 14 * 86_400_000,
    // long enough that no round in this file sees a backoff run out by the clock
    firstRetryMs: 60_000,
    maxRetryMs: 60 * 60_000,
    ...renewal,
  },
  entry: async () => ["127.0.0.1"],
  dnsServer: `127.0.0.1:${dns.port}`,
  directoryCa: readFileSync(pebble.listenerCaFile, "utf8"),
  mail: (mail) => mails.push(mail),
  say: (line) => said.push(line),
});

/** After a new certificate, the replaced listener keeps accepting for 2 s of grace. */
const settled = () => Bun.sleep(2100);

/**
 * curl, a real TLS client: SNI and verification against the CA's root, the name resolved to us.
 * Run without blocking: the app it reaches through the proxy lives in this process.
 */
async function curl(name: string, path = "/", ca = rootFile) {
  const run = Bun.spawn(
    [
      "curl",
      "-sS",
      "-i",
      "--max-time",
      "5",
      "--cacert",
      ca,
      "--resolve",
      `${name}:${httpsPort}:127.0.0.1`,
      `https://${name}:${httpsPort}${path}`,
      "-w",
      "\n%{ssl_verify_result} %{http_code}",
    ],
    { stdout: "pipe", stderr: "pipe" },
  );
  const [out, err, code] = await Promise.all([
    new Response(run.stdout).text(),
    new Response(run.stderr).text(),
    run.exited,
  ]);
  return { out, err, code };
}

async function servedCertificate(name: string): Promise<string> {
  const run = Bun.spawn(
    ["openssl", "s_client", "-connect", `127.0.0.1:${httpsPort}`, "-servername", name],
    { stdin: "ignore", stdout: "pipe", stderr: "pipe" },
  );
  const out = await new Response(run.stdout).text();
  await run.exited;
  return /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/.exec(out)?.[0] ?? "";
}

test("before any certificate, :80 redirects, answers health and no stranger's challenge", async () => {
  const redirect = await rawRequest(
    proxy.url,
    "GET /basket?item=7&x=%2F HTTP/1.1\r\nHost: shop.test\r\nConnection: close\r\n\r\n",
  );
  expect(statusOf(redirect)).toBe(308);
  expect(redirect).toContain(`Location: https://shop.test:${httpsPort}/basket?item=7&x=%2F`);
  const noHost = await rawRequest(proxy.url, "GET / HTTP/1.0\r\n\r\n");
  expect(statusOf(noHost)).toBe(400);
  const badHost = await rawRequest(
    proxy.url,
    "GET / HTTP/1.1\r\nHost: a b@evil\r\nConnection: close\r\n\r\n",
  );
  expect(statusOf(badHost)).toBe(400);
  expect((await fetch(`${proxy.url}/_dropship/healthz`)).status).toBe(200);
  const guessed = await fetch(`${proxy.url}/.well-known/acme-challenge/guessed-token`);
  expect(guessed.status).toBe(404);
  const traversal = await rawRequest(
    proxy.url,
    "GET /.well-known/acme-challenge/../../tls:account HTTP/1.1\r\nHost: shop.test\r\nConnection: close\r\n\r\n",
  );
  expect(statusOf(traversal)).not.toBe(200);
  expect(app.received).toHaveLength(0); // nothing over plain HTTP reached the app
}, 60_000);

test("issue one certificate naming both domains over ACME HTTP-01, then serve HTTPS with Secure cookies and HSTS", async () => {
  const outcomes = await certificateRound(deps());
  expect(outcomes?.map((o) => `${o.domain} ${o.result}`)).toEqual([
    "shop.test issued",
    "www.shop.test issued",
  ]);
  await eventually(async () => (await curl("shop.test")).code === 0, 5000, "HTTPS for shop.test");
  const answer = await curl("shop.test", "/hello?x=1");
  expect(answer.out).toMatch(/\n0 200$/); // verified against pebble's root, 200
  expect(answer.out).toMatch(/^strict-transport-security: max-age=31536000\r$/im);
  expect(answer.out).toMatch(/^set-cookie: dropship_client=[^\r]*; Secure\r$/im);
  expect(answer.out).toMatch(/^x-dropship-track: production\r$/im);
  expect(app.received.at(-1)).toMatchObject({
    path: "/hello?x=1",
    headers: { "x-forwarded-proto": "https", host: `shop.test:${httpsPort}` },
  });
  // one order, one certificate naming both, so the proxy's own front serves both names
  // (a listener replaced a moment ago keeps accepting for its 2 s of grace)
  expect(said).toContain(
    `certificates: asking ${pebble.directory} for shop.test, www.shop.test (shop.test: no certificate yet; www.shop.test: no certificate yet)`,
  );
  await settled();
  for (const name of ["shop.test", "www.shop.test"]) {
    const names = certificateFacts(await servedCertificate(name))?.names;
    expect(names?.toSorted()).toEqual(["shop.test", "www.shop.test"]);
  }
  await expectLogged(
    () => proxy.stderr(),
    "HTTPS for shop.test, www.shop.test is answered by the proxy's own front",
  );
  expect((await curl("www.shop.test")).out).toMatch(/\n0 200$/);
  // the admin listener takes the site's certificate too, and speaks plain HTTP no more
  const adminPort = new URL(proxy.adminUrl).port;
  const status = await fetch(`https://127.0.0.1:${adminPort}/_dropship/status`, {
    headers: admin,
    tls: { ca: readFileSync(rootFile, "utf8"), serverName: "shop.test" },
  });
  expect(status.status).toBe(200);
  expect(await status.json()).toHaveProperty("backends");
  await expect(fetch(`${proxy.adminUrl}/_dropship/healthz`)).rejects.toThrow();
  // a second round with nothing due asks the CA for nothing
  expect(await certificateRound(deps())).toEqual([]);
}, 60_000);

test("renewal: a certificate inside renew_before is issued again and served at once", async () => {
  const before = await servedCertificate("shop.test");
  // pebble's certificates last years; a threshold beyond that makes them due now
  const outcomes = await certificateRound(deps({}, { renewBeforeMs: 20 * 365 * 86_400_000 }));
  expect(outcomes?.every((o) => o.result === "issued")).toBe(true);
  await eventually(
    async () => (await servedCertificate("shop.test")) !== before,
    5000,
    "the new certificate",
  );
  expect((await curl("shop.test")).out).toMatch(/\n0 200$/);
}, 60_000);

test("a name the CA refuses holds up no other: each due name is then asked for alone", async () => {
  said.length = 0;
  const outcomes = await certificateRound(
    deps({ domains: ["shop.test", "refused.test"] }),
    new Date(),
    ["shop.test", "refused.test"],
  );
  expect(outcomes?.map((o) => `${o.domain} ${o.result}`)).toEqual([
    "shop.test issued",
    "refused.test failed",
  ]);
  expect(outcomes?.[1]?.detail).toContain("refused.test");
  expect(
    said.some((line) =>
      line.startsWith("certificates: one certificate for shop.test, refused.test was not issued ("),
    ),
  ).toBe(true);
  expect((await readStatuses(control)).get("refused.test")).toMatchObject({ failures: 1 });
  expect((await readStatuses(control)).get("shop.test")).toEqual({ failures: 0 });
  await settled();
  await eventually(
    async () =>
      JSON.stringify(certificateFacts(await servedCertificate("shop.test"))?.names) ===
      JSON.stringify(["shop.test"]),
    5000,
    "shop.test's certificate of its own",
  );
  expect((await curl("shop.test")).out).toMatch(/\n0 200$/);
}, 60_000);

test("a domain that does not resolve to the entry is refused before the CA is asked", async () => {
  const wrong = await certificateRound(deps({ domains: ["elsewhere.test", "nowhere.test"] }));
  expect(wrong?.map((o) => o.result)).toEqual(["failed", "failed"]);
  expect(wrong?.[0]?.detail).toBe(
    "elsewhere.test resolves to 192.0.2.9, not to the proxy's 127.0.0.1 — point its A record there first (the CA would reach another server)",
  );
  expect(wrong?.[1]?.detail).toContain("nowhere.test does not resolve (ENOTFOUND");
  const status = (await readStatuses(control)).get("elsewhere.test");
  expect(status).toMatchObject({ failures: 1 });
  // backed off: the next round leaves it alone until nextAttemptAt
  expect(await certificateRound(deps({ domains: ["elsewhere.test"] }))).toEqual([]);
}, 60_000);

test("a new domain that does not resolve yet leaves the others' certificates alone", async () => {
  // a name added to proxy/tls/domains before its A record: the domains that are not due keep
  // what they have, rather than being issued again at every retry of the new one (which spends
  // Let's Encrypt's five certificates a week for one set of names)
  const before = (await readCertificates(control)).get("shop.test")?.cert;
  expect(before).toBeTruthy();
  const saidBefore = said.length;
  const round = await certificateRound(deps({ domains: ["shop.test", "later.test"] }));
  expect(round?.map((o) => `${o.domain} ${o.result}`)).toEqual(["later.test failed"]);
  expect(round?.[0]?.detail).toContain("later.test does not resolve (ENOTFOUND");
  expect((await readCertificates(control)).get("shop.test")?.cert).toBe(before);
  // the CA was not asked at all
  expect(said.slice(saidBefore).filter((line) => line.includes("asking"))).toEqual([]);
}, 60_000);

test("a person hears once when renewal still fails two weeks before expiry", async () => {
  const soon = new Date(Date.now() + 10 * 86_400_000).toISOString();
  await putCertificate(control, "late.test", {
    cert: "",
    key: "",
    notAfter: soon,
    issuedAt: "",
    issuer: "",
  });
  await control.hset(
    "tls:status",
    "late.test",
    JSON.stringify({
      failures: 3,
      lastError: "late.test does not resolve",
      nextAttemptAt: "2099-01-01T00:00:00Z",
    }),
  );
  mails.length = 0;
  expect(await certificateRound(deps({ domains: ["late.test"] }))).toEqual([]);
  expect(mails).toHaveLength(1);
  expect(mails[0]?.subject).toBe(
    `[dropship] the certificate for late.test expires ${soon} and renewal fails`,
  );
  expect(mails[0]?.text).toContain("the last error: late.test does not resolve");
  expect(mails[0]?.text).toContain("bun run certs renew late.test");
  await certificateRound(deps({ domains: ["late.test"] }));
  expect(mails).toHaveLength(1);
}, 60_000);

test("the CA down, then up: the failure backs off, and the next try issues", async () => {
  await pebble.stop();
  const renewal = { renewBeforeMs: 20 * 365 * 86_400_000 };
  const before = Date.now();
  const down = await certificateRound(deps({ domains: ["shop.test"] }, renewal));
  expect(down?.map((o) => o.detail)).toEqual([
    `the CA at ${pebble.directory} could not be reached (ECONNREFUSED)`,
  ]);
  const failed = (await readStatuses(control)).get("shop.test");
  expect(failed).toMatchObject({ failures: 1 });
  expect(Date.parse(failed?.nextAttemptAt as string)).toBeGreaterThanOrEqual(before + 60_000);
  await pebble.start();
  // a restarted pebble has a new root; certificates of the old one are still served a moment
  appendFileSync(rootFile, await pebble.root());
  expect(await certificateRound(deps({ domains: ["shop.test"] }, renewal))).toEqual([]); // backing off
  const afterBackoff = new Date(Date.parse(failed?.nextAttemptAt as string) + 1);
  const up = await certificateRound(deps({ domains: ["shop.test"] }, renewal), afterBackoff);
  expect(up?.map((o) => o.result)).toEqual(["issued"]);
  expect((await readStatuses(control)).get("shop.test")).toEqual({ failures: 0 });
  await eventually(
    async () => /\n0 200$/.test((await curl("shop.test")).out),
    5000,
    "the new root's chain",
  );
}, 60_000);

test("a certificate swap under load drops no request", async () => {
  // as on the proxy droplet (proxy.yml): connections queued on a closing listener move on
  const migrate = Bun.spawnSync(["sysctl", "-n", "net.ipv4.tcp_migrate_req"])
    .stdout.toString()
    .trim();
  Bun.spawnSync(["sysctl", "-qw", "net.ipv4.tcp_migrate_req=1"]);
  afterAll(() => Bun.spawnSync(["sysctl", "-qw", `net.ipv4.tcp_migrate_req=${migrate}`]));
  const ca = readFileSync(rootFile, "utf8");
  let ok = 0;
  const failures: string[] = [];
  let running = true;
  const client = async (fresh: boolean) => {
    while (running) {
      try {
        const response = await fetch(`https://127.0.0.1:${httpsPort}/`, {
          headers: { host: "shop.test" },
          tls: { ca, checkServerIdentity: () => undefined },
          keepalive: !fresh,
        });
        await response.arrayBuffer();
        if (response.status === 200) ok++;
        else failures.push(String(response.status));
      } catch (error) {
        failures.push(`${fresh ? "fresh" : "kept"}: ${(error as Error).message.slice(0, 40)}`);
      }
    }
  };
  const clients = [...Array(8)].map((_, i) => client(i % 2 === 0));
  for (let i = 0; i < 3; i++) {
    await Bun.sleep(300);
    const renewed = await certificateRound(deps({ domains: ["shop.test"] }), new Date(), [
      "shop.test",
    ]);
    expect(renewed?.[0]?.result).toBe("issued");
  }
  await Bun.sleep(300);
  running = false;
  await Promise.all(clients);
  expect(failures).toEqual([]);
  expect(ok).toBeGreaterThan(100);
}, 60_000);

test("bun run certs: list shows each domain's expiry, renew asks now, an unknown name is refused", async () => {
  // the inventory says where the proxy is: the public entry the names must point at
  const inventoryDir = join(dir, "inventory");
  await new InventoryRepo(inventoryDir).commit(
    {
      desired: {},
      hosts: [
        {
          name: "shop-proxy-1",
          role: "proxy",
          dropletId: 1,
          address: "127.0.0.1",
          region: "nyc3",
          size: "s-1vcpu-1gb",
          created: "2026-11-30",
        },
      ],
    },
    "test: a proxy",
  );
  const config = join(dir, "certs.yml");
  writeFileSync(
    config,
    `proxy: { tls: { domains: [shop.test, www.shop.test], acme_directory: "${pebble.directory}" } }\n`,
  );
  const certs = async (...args: string[]) => {
    const child = Bun.spawn([process.execPath, join(ROOT, "scripts/certs.ts"), ...args], {
      env: {
        PATH: process.env.PATH ?? "",
        DROPSHIP_CONFIG: config,
        REDIS_URL: redis.url,
        DROPSHIP_GITOPS_REPO: inventoryDir,
        DROPSHIP_DNS_SERVER: `127.0.0.1:${dns.port}`,
        DROPSHIP_ACME_CA_FILE: pebble.listenerCaFile,
      },
      stdout: "pipe",
      stderr: "pipe",
    });
    const [out, err, code] = await Promise.all([
      new Response(child.stdout).text(),
      new Response(child.stderr).text(),
      child.exited,
    ]);
    return { out, err, code };
  };
  const listed = await certs("list");
  expect(listed.code).toBe(0);
  expect(listed.out).toMatch(/^DOMAIN +EXPIRES +DAYS LEFT +ISSUER +LAST ERROR$/m);
  expect(listed.out).toMatch(/^shop\.test +\d{4}-\d\d-\d\d +\d+ +CN=Pebble Intermediate/m);
  const renewed = await certs("renew", "www.shop.test");
  expect(renewed.err).toBe("");
  expect(renewed.out).toMatch(/^www\.shop\.test: issued — valid until \d{4}-/m);
  expect(renewed.code).toBe(0);
  const unknown = await certs("renew", "other.test");
  expect(unknown.code).toBe(2);
  expect(unknown.err).toContain(
    "other.test is not in proxy/tls/domains (shop.test, www.shop.test)",
  );
}, 60_000);

test("a certificate from files is checked, stored and served; a bad one is refused", async () => {
  const make = (name: string, names: string) =>
    selfSigned({
      certFile: join(dir, `${name}.pem`),
      keyFile: join(dir, `${name}.key`),
      commonName: "shop.test",
      names: names.split(","),
      days: 90,
    });
  make("own", "DNS:shop.test,DNS:www.shop.test");
  make("other", "DNS:other.test");
  const own = { certificate_file: "own.pem", key_file: "own.key" };
  const stored = await certificateRound(deps(own));
  expect(stored?.map((o) => `${o.domain} ${o.result}`)).toEqual([
    "shop.test stored",
    "www.shop.test stored",
  ]);
  await eventually(
    async () => /\n0 200$/.test((await curl("www.shop.test", "/", join(dir, "own.pem"))).out),
    5000,
    "the own certificate",
  );
  const mismatched = certificateRound(deps({ certificate_file: "own.pem", key_file: "other.key" }));
  await expect(mismatched).rejects.toThrow(
    `proxy/tls: ${join(dir, "other.key")} is not the key of ${join(dir, "own.pem")} — give the private key the certificate was issued for`,
  );
  const uncovering = certificateRound(
    deps({ certificate_file: "other.pem", key_file: "other.key" }),
  );
  await expect(uncovering).rejects.toThrow(
    "does not cover shop.test, www.shop.test (it is for other.test)",
  );
  const expired = certificateRound(deps(own), new Date(Date.now() + 91 * 86_400_000));
  await expect(expired).rejects.toThrow(/own\.pem expired on /);
  // bun run config (and setup, before it creates anything) refuses the pair at the door
  const badConfig = join(dir, "bad-cert.yml");
  writeFileSync(
    badConfig,
    "proxy: { tls: { domains: [shop.test], certificate_file: own.pem, key_file: other.key } }\n",
  );
  const checked = Bun.spawnSync([process.execPath, join(ROOT, "scripts/config.ts"), badConfig], {
    stdout: "pipe",
    stderr: "pipe",
  });
  expect(checked.exitCode).toBe(1);
  expect(checked.stderr.toString()).toContain(
    `${badConfig}: 1 problem\n  proxy/tls: ${join(dir, "other.key")} is not the key of ${join(dir, "own.pem")}`,
  );

  // the proxy refuses a pair from Redis whose key is not its certificate's, and keeps serving
  await settled();
  const serving = await servedCertificate("shop.test");
  await putCertificate(control, "shop.test", {
    cert: readFileSync(join(dir, "own.pem"), "utf8"),
    key: readFileSync(join(dir, "other.key"), "utf8"),
    notAfter: "2099-01-01T00:00:00.000Z",
    issuedAt: new Date().toISOString(),
    issuer: "test",
  });
  // every worker says it; whichever says it first, it is said whole
  const refusal =
    "the certificate for shop.test in Redis is not served: its key is not the key of the certificate — give the private key the certificate was issued for";
  await eventually(async () => proxy.stderr().includes(refusal), 5000, "the refusal");
  const escaped = refusal.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  expect(proxy.stderr().split("\n")).toContainEqual(
    expect.stringMatching(new RegExp(`^dropship-proxy(\\[\\d+\\])?: ${escaped}$`)),
  );
  expect(await servedCertificate("shop.test")).toBe(serving);
}, 60_000);
