import { expect, test } from "bun:test";
import { mkdirSync, statSync } from "node:fs";
import { hostname } from "node:os";
import { join, resolve } from "node:path";
import type { Browser } from "playwright-core";
import { recordEvent } from "../../../server/shared/state/events.ts";
import { saveRun } from "../../../server/shared/state/jobs.ts";
import { KEYS } from "../../../server/shared/state/keys.ts";
import { launchChromium } from "../../helpers/chromium.ts";
import { addBackend, startProxy, USER_TOKENS } from "../../helpers/proxy.ts";
import { connectTo, startRedis } from "../../helpers/redis.ts";
import { eventually, startServer } from "../../helpers/server.ts";

const ARTIFACTS = resolve(import.meta.dir, "../../artifacts");
const redis = await startRedis();
const state = await connectTo(redis);
const production = await startServer("app", { REDIS_URL: redis.url, DROPSHIP_TRACK: "production" });
const staging = await startServer("app", { REDIS_URL: redis.url, DROPSHIP_TRACK: "staging" });
await addBackend(state, "production", production.url);
await addBackend(state, "staging", staging.url);
const proxy = await startProxy(redis);
await startServer("monitor", {
  REDIS_URL: redis.url,
  DROPSHIP_ROLE: "proxy",
  DROPSHIP_HOSTNAME: "dash-proxy-1",
  DROPSHIP_MONITOR_INTERVAL: "1s",
});
await recordEvent(state, KEYS.deploys, {
  commit: "3f2a9c1d0b7e5a4f",
  branch: "master",
  role: "production",
  who: "ann",
  at: new Date().toISOString(),
  result: "deployed",
  seconds: "12.3",
});
await recordEvent(state, KEYS.scaling, {
  action: "out",
  host: "shop-production-3",
  why: "proxy_cpu 78 > 50 for 60s",
  result: "added",
  at: new Date().toISOString(),
});

await saveRun(state, {
  job: "nightly-report",
  host: "shop-production-2",
  release: "3f2a9c1d0b7e",
  startedAt: Date.now() - 60_000,
  ms: 4200,
  code: 4,
  fault: "exit 4",
  tail: ["secret-looking output the page does not show"],
  by: "dropship-receiver (schedule)",
});

const browser: Browser = await launchChromium();

test("the dashboard loads clean, shows the live split, hosts, charts and events, and switches a flag", async () => {
  const context = await browser.newContext({
    // a named user signs in with their own token: the change is recorded under their name
    httpCredentials: { username: "ann", password: USER_TOKENS.ann },
    viewport: { width: 1280, height: 1100 },
  });
  const page = await context.newPage();
  const problems: string[] = [];
  page.on("console", (m) => {
    if (m.type() === "error" || m.type() === "warning") problems.push(`${m.type()}: ${m.text()}`);
  });
  page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
  await page.goto(`${proxy.adminUrl}/_dropship/`);

  // traffic from new visitors (no cookie) while the page polls: it shows the share per track
  let stop = false;
  const traffic = (async () => {
    while (!stop) {
      await Promise.all(
        Array.from({ length: 20 }, async () => (await fetch(`${proxy.url}/`)).arrayBuffer()),
      );
    }
  })();
  try {
    const seen = async () => Number((await page.getAttribute("#split", "data-requests")) ?? 0);
    await eventually(async () => (await seen()) >= 200, 20_000, "a split of 200 requests");
  } finally {
    stop = true;
    await traffic;
  }
  // whose view it is: with two proxies each draws its own traffic
  expect(await page.textContent("#version")).toMatch(
    new RegExp(`^proxy \\S+ on ${hostname()} — the traffic and requests in flight it sees$`),
  );
  const share = Number(await page.getAttribute("#split", "data-staging-share"));
  expect(share).toBeGreaterThan(18);
  expect(share).toBeLessThan(42);
  expect(await page.textContent("#split")).toMatch(/production \d+%, staging \d+%/);
  // and the canary analysis's last word: still waiting for staging requests, or its figures
  expect(await page.textContent("#canary")).toMatch(
    /^Staging gets 30% of new visitors \(active\)\. Analysis: (waiting: \d+\/50 staging requests( counted \(\d+ answered, from \d+ address(es)?: each address counts for at most 10 and the worst IPv4 address and IPv6 \/64 are left out\))?|staging 5xx \d+\.\d% of \d+ vs production \d+\.\d% of \d+)\.$/,
  );

  // hosts: both apps healthy in rotation, the monitored host with its figures
  const backendRow = page.locator(`#hosts tr[data-host="${production.url.slice(7)}"]`);
  await expect(backendRow.textContent()).resolves.toContain("healthy");
  await page.waitForSelector('#hosts tr[data-host="dash-proxy-1"]', { timeout: 10_000 });
  expect(await page.textContent('#hosts tr[data-host="dash-proxy-1"]')).toMatch(/proxy.*\d+%/);
  await page.waitForSelector('.chart[data-host="dash-proxy-1"] canvas', { timeout: 10_000 });
  expect(await page.textContent("#deploys")).toContain("3f2a9c1d0b7e");
  expect(await page.textContent("#scaling")).toContain("shop-production-3");
  // each scheduled job's last run: where and how it ended, never its output
  const jobs = (await page.textContent("#jobs")) ?? "";
  expect(jobs).toContain("nightly-report");
  expect(jobs).toContain("shop-production-2");
  expect(jobs).toContain("exit 4");
  expect(jobs).not.toContain("secret-looking");
  expect(await page.isVisible("#jobs-section")).toBe(true);

  // switching disableSET from the page changes what /set answers through the proxy
  expect((await fetch(`${proxy.url}/set`)).status).toBe(200);
  await page.click('button[data-flag="disableSET"]');
  await page.waitForSelector('button[data-flag="disableSET"]:text("turn off")');
  await eventually(async () => (await fetch(`${proxy.url}/set`)).status === 403, 2000, "403");
  await page.click('button[data-flag="disableSET"]');
  await page.waitForSelector('button[data-flag="disableSET"]:text("turn on")');
  await eventually(async () => (await fetch(`${proxy.url}/set`)).status === 200, 2000, "200");
  const [change] = await state.xrevrange(KEYS.audit, "+", "-", "COUNT", 1);
  expect(change?.[1].join(" ")).toContain("actor ann@");

  mkdirSync(ARTIFACTS, { recursive: true });
  const shot = join(ARTIFACTS, "dashboard.png");
  await page.screenshot({ path: shot, fullPage: true });
  expect(statSync(shot).size).toBeGreaterThan(20_000);
  console.log(`dashboard screenshot: ${shot}`);
  expect(problems).toEqual([]);
  await context.close();
}, 60_000);

test("without credentials the browser is refused the page", async () => {
  const context = await browser.newContext();
  const page = await context.newPage();
  await expect(page.goto(`${proxy.adminUrl}/_dropship/`)).rejects.toThrow(
    "ERR_INVALID_AUTH_CREDENTIALS",
  );
  await context.close();
});
