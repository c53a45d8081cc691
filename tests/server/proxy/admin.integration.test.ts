import { describe, expect, test } from "bun:test";
import { readAudit } from "../../../server/shared/state/audit.ts";
import { ADMIN_TOKEN, addBackend, admin, startProxy } from "../../helpers/proxy.ts";
import { connectTo, startRedis } from "../../helpers/redis.ts";
import { startServer } from "../../helpers/server.ts";
import { startUpstream } from "../../helpers/upstream.ts";

const redis = await startRedis();
const state = await connectTo(redis);
const app = await startServer("app", { REDIS_URL: redis.url });
await addBackend(state, "production", app.url);
const proxy = await startProxy(redis);
const basic = (user: string, password: string) => ({
  authorization: `Basic ${Buffer.from(`${user}:${password}`).toString("base64")}`,
});
const call = (path: string, init: RequestInit = {}) => fetch(`${proxy.url}${path}`, init);
const json = (method: string, body: unknown, headers: Record<string, string> = admin) => ({
  method,
  headers: { ...headers, "content-type": "application/json" },
  body: typeof body === "string" ? body : JSON.stringify(body),
});

describe("authentication", () => {
  const guarded: [string, RequestInit?][] = [
    ["/disable/1"],
    ["/_dropship/flags"],
    ["/_dropship/status"],
    ["/_dropship/metrics"],
    ["/_dropship/"],
    ["/_dropship/canary", { method: "PUT" }],
    ["/_dropship/canary/abort", { method: "POST" }],
    ["/_dropship/canary/resume", { method: "POST" }],
    ["/_dropship/flags/disableSET", { method: "PUT" }],
  ];

  test("every admin route answers 401 without credentials, and asks the browser for them", async () => {
    for (const [path, init] of guarded) {
      const response = await call(path, init);
      expect(response.status).toBe(401);
      expect(response.headers.get("www-authenticate")).toStartWith("Basic");
    }
  });

  test("wrong credentials get 401 too", async () => {
    for (const headers of [
      { authorization: "Bearer wrong" },
      basic("ann", "wrong"),
      { authorization: "Token x" },
    ]) {
      expect((await call("/_dropship/status", { headers })).status).toBe(401);
    }
  });

  test("a Bearer token or a Basic password works; only healthz is open", async () => {
    expect((await call("/_dropship/status", { headers: admin })).status).toBe(200);
    expect((await call("/_dropship/status", { headers: basic("ann", ADMIN_TOKEN) })).status).toBe(
      200,
    );
    const health = await call("/_dropship/healthz");
    expect(health.status).toBe(200);
    expect(await health.json()).toMatchObject({
      status: "ok",
      healthy: { production: 1, staging: 0 },
    });
  });

  test("a change the browser marks cross-site is refused with 403, a same-origin one is not", async () => {
    const crossSite = { ...basic("ann", ADMIN_TOKEN), "sec-fetch-site": "cross-site" };
    expect((await call("/disable/1", { headers: crossSite })).status).toBe(403);
    expect(
      (await call("/_dropship/canary/abort", { method: "POST", headers: crossSite })).status,
    ).toBe(403);
    expect((await call("/_dropship/status", { headers: crossSite })).status).toBe(200);
    const sameOrigin = { ...basic("ann", ADMIN_TOKEN), "sec-fetch-site": "same-origin" };
    expect((await call("/disable/0", { headers: sameOrigin })).status).toBe(200);
  });
});

describe("the seed's flag URLs", () => {
  test("/disable/1 turns SET off through the proxy, /disable/0 back on; both audited with who", async () => {
    const on = await call("/disable/1", { headers: basic("ann", ADMIN_TOKEN) });
    expect(on.status).toBe(200);
    expect(await on.text()).toBe("disableSET is on: SET is disabled.\n");
    await Bun.sleep(100);
    expect((await call("/set")).status).toBe(403);
    expect((await call("/disable/0", { headers: basic("bob", ADMIN_TOKEN) })).status).toBe(200);
    await Bun.sleep(100);
    expect((await call("/set")).status).toBe(200);
    const audit = await readAudit(state, { kind: "flag", target: "disableSET", limit: 2 });
    expect(audit.map((e) => e.actor)).toEqual(["bob@127.0.0.1", "ann@127.0.0.1"]);
  });

  test("/disable/7 is a 400 that says what to use", async () => {
    const response = await call("/disable/7", { headers: admin });
    expect(response.status).toBe(400);
    expect(await response.text()).toBe(
      "/disable/7 is not valid: /disable/1 disables SET, /disable/0 enables it.\n",
    );
  });
});

describe("flags and canary over the API", () => {
  test("PUT a flag with a rollout, then read it back", async () => {
    const put = await call(
      "/_dropship/flags/newCheckout",
      json("PUT", { enabled: true, rollout: 25 }),
    );
    expect(put.status).toBe(200);
    expect(await put.json()).toMatchObject({
      name: "newCheckout",
      enabled: true,
      rollout: 25,
      state: "on for 25%",
    });
    await Bun.sleep(50);
    const flags = (await (await call("/_dropship/flags", { headers: admin })).json()) as {
      name: string;
    }[];
    expect(flags.map((f) => f.name)).toContain("newCheckout");
  });

  test("malformed flag changes are 400s with a message, and change nothing", async () => {
    const before = (await readAudit(state, { limit: 1 }))[0]?.id;
    const cases: [string, RequestInit, string][] = [
      ["/_dropship/flags/9bad", json("PUT", { enabled: true }), "is not valid"],
      ["/_dropship/flags/ok", json("PUT", { enabled: "yes" }), "enabled must be true or false"],
      [
        "/_dropship/flags/ok",
        json("PUT", { enabled: true, rollout: 130 }),
        "rollout 130 is not valid",
      ],
      [
        "/_dropship/flags/ok",
        json("PUT", { enabled: true, colour: "red" }),
        "Unknown field colour",
      ],
      ["/_dropship/flags/ok", json("PUT", "{not json"), "not valid JSON"],
      ["/_dropship/flags/ok", json("PUT", [1, 2]), "Send a JSON body"],
      ["/_dropship/canary", json("PUT", { weight: 130 }), "weight 130 is not valid"],
      ["/_dropship/canary", json("PUT", { weight: "30" }), 'weight "30" is not valid'],
      ["/_dropship/canary", json("PUT", {}), "weight undefined is not valid"],
    ];
    for (const [path, init, message] of cases) {
      const response = await call(path, init);
      expect(response.status).toBe(400);
      expect(await response.text()).toContain(message);
    }
    expect((await readAudit(state, { limit: 1 }))[0]?.id).toBe(before);
  });

  test("weight, abort and resume change the status, each audited", async () => {
    const weight = await call("/_dropship/canary", json("PUT", { weight: 10 }));
    expect(await weight.json()).toMatchObject({ weight: 10, state: "active" });
    await call("/_dropship/canary/abort", { method: "POST", headers: basic("ann", ADMIN_TOKEN) });
    await Bun.sleep(50);
    let status = (await (await call("/_dropship/status", { headers: admin })).json()) as {
      canary: {
        weight: number;
        state: string;
        blockedBecause: string;
        stagingGetsTraffic: boolean;
      };
    };
    expect(status.canary).toMatchObject({
      weight: 10,
      state: "aborted",
      stagingGetsTraffic: false,
    });
    expect(status.canary.blockedBecause).toBe("aborted: by ann@127.0.0.1");
    await call("/_dropship/canary/resume", { method: "POST", headers: admin });
    await Bun.sleep(50);
    status = (await (await call("/_dropship/status", { headers: admin })).json()) as typeof status;
    expect(status.canary).toMatchObject({ state: "active", stagingGetsTraffic: true });
    const audit = await readAudit(state, { kind: "canary", limit: 3 });
    expect(audit.map((e) => JSON.parse(e.new).state)).toEqual(["active", "aborted", "active"]);
    expect(audit.every((e) => e.old !== "" || e === audit[2])).toBe(true);
  });

  test("metrics and the status page answer with the fleet", async () => {
    const metrics = await (await call("/_dropship/metrics", { headers: admin })).text();
    expect(metrics).toContain("# TYPE dropship_proxy_requests_total counter");
    expect(metrics).toMatch(
      /dropship_proxy_requests_total\{track="production",backend="127\.0\.0\.1:\d+",status="200"\} \d+/,
    );
    expect(metrics).toContain("dropship_canary_weight 10");
    const page = await call("/_dropship/", { headers: admin });
    expect(page.headers.get("content-type")).toStartWith("text/html");
    expect(await page.text()).toContain("Staging gets 10% of new visitors.");
    const data = (await (await call("/_dropship/dashboard.json", { headers: admin })).json()) as {
      canary: { weight: number };
      hosts: { role: string }[];
    };
    expect(data.canary.weight).toBe(10);
    expect(data.hosts.map((h) => h.role)).toContain("production");
    const uplot = await call("/_dropship/assets/uplot.js", { headers: admin });
    expect(uplot.headers.get("content-type")).toStartWith("text/javascript");
    expect(await uplot.text()).toContain("uPlot");
  });
});

test("without DROPSHIP_ADMIN_TOKEN the admin API answers 503 and proxying goes on", async () => {
  const upstream = startUpstream("plain");
  const bare = await startServer("proxy", { REDIS_URL: redis.url });
  await addBackend(state, "production", upstream.url);
  const response = await fetch(`${bare.url}/disable/1`, { headers: admin });
  expect(response.status).toBe(503);
  expect(await response.text()).toContain("DROPSHIP_ADMIN_TOKEN");
  expect((await fetch(`${bare.url}/`)).status).toBe(200);
});

test("a token shorter than 16 characters stops the proxy at the door", () => {
  const proc = Bun.spawnSync([process.execPath, "server/proxy/main.ts"], {
    env: {
      PATH: process.env.PATH ?? "",
      REDIS_URL: redis.url,
      DROPSHIP_ADMIN_TOKEN: "short",
      PORT: "0",
    },
    stderr: "pipe",
  });
  expect(proc.exitCode).toBe(2);
  expect(proc.stderr.toString()).toContain(
    "DROPSHIP_ADMIN_TOKEN: is 5 characters — use at least 16",
  );
  expect(proc.stderr.toString()).not.toContain("short");
});
