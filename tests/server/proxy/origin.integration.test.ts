import { afterAll, expect, test } from "bun:test";
import { type Browser, chromium } from "playwright-core";
import { CANARY_FIELD, KEYS } from "../../../server/shared/state/keys.ts";
import { addBackend, startProxy, USER_TOKENS } from "../../helpers/proxy.ts";
import { connectTo, startRedis } from "../../helpers/redis.ts";
import { expectLogged } from "../../helpers/server.ts";

// A page the app (or a compromised canary) serves tries the admin API with the operator's
// credentials in the browser. The admin listener is another origin, so it cannot read the
// answers, and its state changes follow CrossOriginProtection, so it cannot make one either.
const redis = await startRedis();
const state = await connectTo(redis);
const proxy = await startProxy(redis);

const PROBE = `<!doctype html><title>probe</title><script type="module">
const admin = new URLSearchParams(location.search).get("admin");
const results = {};
async function attempt(name, url, init) {
  try {
    const response = await fetch(url, { credentials: "include", ...init });
    results[name] = response.status + " " + (await response.text()).slice(0, 40);
  } catch (error) {
    results[name] = "blocked: " + error.name;
  }
}
await attempt("public", "/_dropship/status");
await attempt("admin", admin + "/_dropship/status");
await attempt("abort", admin + "/_dropship/canary/abort", { method: "POST", mode: "no-cors" });
await attempt("flag", admin + "/disable/1", { mode: "no-cors" });
document.body.dataset.results = JSON.stringify(results);
</script>`;
const app = Bun.serve({
  port: 0,
  hostname: "127.0.0.1",
  fetch(request) {
    const path = new URL(request.url).pathname;
    if (path === "/healthz") return Response.json({ status: "ok", version: "probe" });
    return new Response(PROBE, { headers: { "content-type": "text/html" } });
  },
});
afterAll(() => app.stop(true));
await addBackend(state, "production", `http://127.0.0.1:${app.port}`);

const browser: Browser = await chromium.launch({
  executablePath: process.env.CHROMIUM_PATH ?? "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"],
});
afterAll(() => browser.close());

test("a page served by the app cannot read the admin API or change state, even with the operator's credentials", async () => {
  // The operator is signed in to the dashboard: the browser answers the admin origin's
  // challenges with the token, whoever's page asks.
  const context = await browser.newContext({
    httpCredentials: { username: "ann", password: USER_TOKENS.ann, origin: proxy.adminUrl },
  });
  const page = await context.newPage();
  const dashboard = await page.goto(`${proxy.adminUrl}/_dropship/`);
  expect(dashboard?.status()).toBe(200);

  await page.goto(`${proxy.url}/probe?admin=${encodeURIComponent(proxy.adminUrl)}`);
  await page.waitForSelector("body[data-results]", { state: "attached", timeout: 10_000 });
  const results = JSON.parse((await page.getAttribute("body", "data-results")) ?? "{}") as Record<
    string,
    string
  >;
  expect(results.public).toBe("404 Not found.\n");
  expect(results.admin).toBe("blocked: TypeError");
  // no-cors requests go out but their answers are opaque; what matters is nothing changed
  const canary = await state.hget(KEYS.canary, CANARY_FIELD);
  expect(canary === null || !canary.includes('"aborted"')).toBe(true);
  expect(await state.hget(KEYS.flags, "disableSET")).toBeNull();
  // and they were refused for where they came from, not for want of credentials
  await expectLogged(
    () => proxy.stderr(),
    "403 POST /_dropship/canary/abort for ann@127.0.0.1: the browser sent it from another origin (Sec-Fetch-Site: same-site)",
  );
  await expectLogged(() => proxy.stderr(), "403 GET /disable/1 for ann@127.0.0.1");
  await context.close();
}, 30_000);
