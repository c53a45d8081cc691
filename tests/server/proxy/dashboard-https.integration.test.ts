import { expect, test } from "bun:test";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { launchChromium } from "../../helpers/chromium.ts";
import { freePort } from "../../helpers/ports.ts";
import { ADMIN_TOKEN, addBackend, startProxy } from "../../helpers/proxy.ts";
import { connectTo, startRedis } from "../../helpers/redis.ts";
import { eventually, startServer } from "../../helpers/server.ts";
import { storeCertificate, testCa } from "../../helpers/test-ca.ts";
import { fileTempDir } from "../../helpers/tmp.ts";

// The dashboard over HTTPS in headless Chromium, which trusts a CA of this test's own through
// its NSS database (as a person trusts the demo's CA) and resolves shop.test to the proxy.
const dir = fileTempDir("dropship-dash-tls-");
const { caFile, issue } = testCa(dir);
const site = issue("shop.test", "site", 40);

const redis = await startRedis();
const state = await connectTo(redis);
const app = await startServer("app", { REDIS_URL: redis.url, DROPSHIP_TRACK: "production" });
await addBackend(state, "production", app.url);
await storeCertificate(state, "shop.test", site, { days: 40 });
const httpsPort = freePort();
const proxy = await startProxy(
  redis,
  "health: { interval: 200ms, timeout: 1s }\nproxy: { tls: { domains: [shop.test] } }\n",
  { DROPSHIP_HTTPS_PORT: String(httpsPort) },
);
const adminPort = new URL(proxy.adminUrl).port;

const home = join(dir, "home");
mkdirSync(join(home, ".pki/nssdb"), { recursive: true });
for (const argv of [
  ["certutil", "-N", "-d", `sql:${home}/.pki/nssdb`, "--empty-password"],
  [
    "certutil",
    "-A",
    "-d",
    `sql:${home}/.pki/nssdb`,
    "-t",
    "C,,",
    "-n",
    "dropship-test",
    "-i",
    caFile,
  ],
]) {
  const run = Bun.spawnSync(argv, { stderr: "pipe" });
  if (run.exitCode !== 0) throw new Error(`${argv.join(" ")}: ${run.stderr.toString()}`);
}
// Chromium trusts the NSS database under HOME, and resolves shop.test to this machine
const browser = await launchChromium({
  env: { ...process.env, HOME: home },
  args: ["--host-resolver-rules=MAP shop.test 127.0.0.1"],
});

test("the dashboard over HTTPS: a trusted certificate, and each domain's expiry", async () => {
  const context = await browser.newContext({
    httpCredentials: { username: "admin", password: ADMIN_TOKEN },
  });
  const page = await context.newPage();
  const problems: string[] = [];
  page.on("console", (m) => {
    // the app has no favicon; whether Chromium asks for it before the end is a matter of timing
    if (m.type() === "error" && !m.location().url.endsWith("/favicon.ico")) {
      problems.push(`${m.text()} (${m.location().url})`);
    }
  });
  const response = await page.goto(`https://shop.test:${adminPort}/_dropship/`);
  expect(response?.status()).toBe(200);
  // Chromium checked the chain against the CA it was told to trust: no interstitial, a secure page
  expect(await page.evaluate("window.isSecureContext && location.protocol")).toBe("https:");
  expect((await response?.securityDetails())?.subjectName).toBe("shop.test");
  await eventually(
    async () => page.locator("#certificates-section").isVisible(),
    5000,
    "the certificates",
  );
  const [domain, expires, daysLeft] = await page
    .locator("#certificates tr")
    .nth(1)
    .locator("td")
    .allTextContents();
  expect(domain).toBe("shop.test");
  expect(expires).toMatch(/^\d{4}-\d\d-\d\d$/);
  expect(["39", "40"]).toContain(daysLeft as string);
  // the site itself, over the same certificate
  const site = await page.goto(`https://shop.test:${httpsPort}/`);
  expect(site?.status()).toBe(200);
  expect(await site?.text()).toContain("Hello from dropship production");
  expect(problems).toEqual([]);
  await context.close();
});
