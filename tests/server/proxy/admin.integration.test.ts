import { describe, expect, test } from "bun:test";
import { startSteps } from "../../../server/shared/routing/steps.ts";
import { readAudit } from "../../../server/shared/state/audit.ts";
import { changeCanary } from "../../../server/shared/state/routing.ts";
import { ADMIN_TOKEN, addBackend, admin, startProxy, USER_TOKENS } from "../../helpers/proxy.ts";
import { rawRequest } from "../../helpers/raw.ts";
import { connectTo, startRedis } from "../../helpers/redis.ts";
import { eventually, serverEntry, startServer } from "../../helpers/server.ts";
import { startUpstream } from "../../helpers/upstream.ts";

const redis = await startRedis();
const state = await connectTo(redis);
const app = await startServer("app", { REDIS_URL: redis.url });
await addBackend(state, "production", app.url);
const proxy = await startProxy(redis);
const basic = (user: string, password: string) => ({
  authorization: `Basic ${Buffer.from(`${user}:${password}`).toString("base64")}`,
});
/** the admin listener */
const call = (path: string, init: RequestInit = {}) => fetch(`${proxy.adminUrl}${path}`, init);
/** the public listener, where visitors come */
const visit = (path: string, init: RequestInit = {}) => fetch(`${proxy.url}${path}`, init);
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
    ["/_dropship/canary/promote", { method: "POST" }],
    ["/_dropship/flags/disableSET", { method: "PUT" }],
    ["/_dropship/flags/newCheckout", { method: "DELETE" }],
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

  test("an unknown admin path is a 401 too, so the routes cannot be listed without credentials", async () => {
    for (const path of ["/_dropship/nope", "/_dropship/flags/x/y", "/elsewhere"]) {
      expect((await call(path)).status).toBe(401);
    }
    expect((await call("/_dropship/nope", { headers: admin })).status).toBe(404);
  });
});

describe("cross-origin protection (Go's CrossOriginProtection)", () => {
  const creds = basic("ann", ADMIN_TOKEN);
  const host = new URL(proxy.adminUrl).host;
  const cases: [string, Record<string, string>, number][] = [
    ["Sec-Fetch-Site: same-origin", { "sec-fetch-site": "same-origin" }, 200],
    ["Sec-Fetch-Site: none (typed in the address bar)", { "sec-fetch-site": "none" }, 200],
    ["Sec-Fetch-Site in capitals", { "sec-fetch-site": "SAME-ORIGIN" }, 200],
    ["no Sec-Fetch-Site and no Origin (curl, the CLI)", {}, 200],
    ["no Sec-Fetch-Site, Origin of this host", { origin: `http://${host}` }, 200],
    ["Sec-Fetch-Site: cross-site", { "sec-fetch-site": "cross-site" }, 403],
    ["Sec-Fetch-Site: same-site", { "sec-fetch-site": "same-site" }, 403],
    ["Sec-Fetch-Site: Cross-Site", { "sec-fetch-site": "Cross-Site" }, 403],
    ["a foreign Origin and no Sec-Fetch-Site", { origin: "https://evil.example" }, 403],
    ["Origin: null", { origin: "null" }, 403],
  ];
  for (const [name, headers, expected] of cases) {
    test(`${name}: ${expected}`, async () => {
      const flip = await call("/disable/0", { headers: { ...creds, ...headers } });
      expect(flip.status).toBe(expected);
      const abort = await call("/_dropship/canary/resume", {
        method: "POST",
        headers: { ...creds, ...headers },
      });
      expect(abort.status).toBe(expected);
      if (expected === 403) expect(await flip.text()).toStartWith("Refused: ");
      // reading is never refused: a page elsewhere cannot read the answer anyway
      expect((await call("/_dropship/status", { headers: { ...creds, ...headers } })).status).toBe(
        200,
      );
    });
  }

  test("a repeated Sec-Fetch-Site or Origin field is refused (raw socket)", async () => {
    for (const fields of [
      "Sec-Fetch-Site: same-origin\r\nSec-Fetch-Site: same-origin",
      `Origin: http://${host}\r\nOrigin: http://${host}`,
    ]) {
      const answer = await rawRequest(
        proxy.adminUrl,
        `GET /disable/0 HTTP/1.1\r\nHost: ${host}\r\nAuthorization: ${creds.authorization}\r\n${fields}\r\nConnection: close\r\n\r\n`,
      );
      expect(answer).toStartWith("HTTP/1.1 403");
    }
  });
});

describe("the public listener", () => {
  test("serves healthz and the seed's flag URLs, and one 404 for every other /_dropship path", async () => {
    expect((await visit("/_dropship/healthz")).status).toBe(200);
    expect((await visit("/disable/1")).status).toBe(401);
    const bodies = new Set<string>();
    for (const path of [
      "/_dropship/status",
      "/_dropship/flags",
      "/_dropship/",
      "/_dropship/nope",
    ]) {
      for (const headers of [{}, admin]) {
        const response = await visit(path, { headers });
        expect(response.status).toBe(404);
        bodies.add(await response.text());
      }
    }
    expect([...bodies]).toEqual(["Not found.\n"]);
  });

  test("a page on another site cannot flip a flag through the public /disable URL", async () => {
    const response = await visit("/disable/1", {
      headers: { ...basic("ann", ADMIN_TOKEN), "sec-fetch-site": "cross-site" },
    });
    expect(response.status).toBe(403);
    expect((await visit("/set")).status).toBe(200);
  });
});

describe("the seed's flag URLs", () => {
  test("/disable/1 turns SET off through the proxy, /disable/0 back on; both audited with who", async () => {
    const on = await visit("/disable/1", { headers: basic("ann", USER_TOKENS.ann) });
    expect(on.status).toBe(200);
    expect(await on.text()).toBe("disableSET is on: SET is disabled.\n");
    await Bun.sleep(100);
    expect((await visit("/set")).status).toBe(403);
    expect((await visit("/disable/0", { headers: basic("", USER_TOKENS.bob) })).status).toBe(200);
    await Bun.sleep(100);
    expect((await visit("/set")).status).toBe(200);
    const audit = await readAudit(state, { kind: "flag", target: "disableSET", limit: 2 });
    expect(audit.map((e) => e.actor)).toEqual(["bob@127.0.0.1", "ann@127.0.0.1"]);
  });

  test("who acted is the token's owner, never the name a client types", async () => {
    await visit("/disable/0", { headers: basic("ann", ADMIN_TOKEN) });
    await visit("/disable/0", { headers: basic("ann", USER_TOKENS.bob) });
    const audit = await readAudit(state, { kind: "flag", target: "disableSET", limit: 2 });
    expect(audit.map((e) => e.actor)).toEqual(["bob@127.0.0.1", "admin@127.0.0.1"]);
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

  test("DELETE takes away a flag that is off; one that is on, disableSET or an unknown one stays", async () => {
    const on = await call("/_dropship/flags/newCheckout", { method: "DELETE", headers: admin });
    expect(on.status).toBe(409);
    expect(await on.text()).toBe(
      "newCheckout is on for 25%: deleting it would turn it off for them — set it off first (bun run flags set newCheckout off), then delete it.\n",
    );
    const own = await call("/_dropship/flags/disableSET", { method: "DELETE", headers: admin });
    expect(own.status).toBe(409);
    expect(await own.text()).toContain("disableSET is the app's own flag");
    const bad = await call("/_dropship/flags/9bad", { method: "DELETE", headers: admin });
    expect(bad.status).toBe(400);
    const off = await call("/_dropship/flags/newCheckout", json("PUT", { enabled: false }));
    expect(off.status).toBe(200);
    const gone = await call("/_dropship/flags/newCheckout", { method: "DELETE", headers: admin });
    expect(gone.status).toBe(200);
    expect(await gone.json()).toMatchObject({ name: "newCheckout", state: "deleted" });
    expect(await state.hexists("dropship:flags", "newCheckout")).toBe(0);
    const [audited] = await readAudit(state, { kind: "flag", target: "newCheckout", limit: 1 });
    expect(audited?.new).toBe("");
    const again = await call("/_dropship/flags/newCheckout", { method: "DELETE", headers: admin });
    expect(again.status).toBe(404);
    await eventually(
      async () =>
        !((await (await call("/_dropship/flags", { headers: admin })).json()) as { name: string }[])
          .map((f) => f.name)
          .includes("newCheckout"),
      2000,
      "the proxy's mirror without it",
    );
  });

  test("malformed flag changes are 400s with a message, and change nothing", async () => {
    const before = (await readAudit(state, { limit: 1 }))[0]?.id;
    const cases: [string, RequestInit, string][] = [
      ["/_dropship/flags/9bad", json("PUT", { enabled: true }), "is not valid"],
      ["/_dropship/flags/ok", json("PUT", { enabled: "yes" }), 'enabled "yes" is not valid'],
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
    await call("/_dropship/canary/abort", {
      method: "POST",
      headers: basic("ann", USER_TOKENS.ann),
    });
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

  test("a canary with steps says where it is, in the status and on the page, and is promoted through the API", async () => {
    await changeCanary(
      state,
      startSteps(
        {
          weight: 30,
          steps: [
            { weight: 10, for: 300_000 },
            { weight: 50, for: 600_000 },
          ],
        },
        Date.now(),
      ),
      "test",
    );
    await Bun.sleep(50);
    const status = (await (await call("/_dropship/status", { headers: admin })).json()) as {
      canary: { steps: string | null };
    };
    expect(status.canary.steps).toMatch(/^step 1 of 2 \(10%\), 50% in [45] min$/);
    const page = await (await call("/_dropship/", { headers: admin })).text();
    expect(page).toMatch(
      /Staging gets 10% of new visitors\. Steps: step 1 of 2 \(10%\), 50% in [45] min\./,
    );
    // another site's page cannot promote in the admin's browser
    const forged = await call("/_dropship/canary/promote", {
      method: "POST",
      headers: { ...admin, "sec-fetch-site": "cross-site" },
    });
    expect(forged.status).toBe(403);
    // promote from the API, as the CLI does: the next step, audited as the caller
    const promoted = await call("/_dropship/canary/promote", {
      method: "POST",
      headers: basic("ann", USER_TOKENS.ann),
    });
    expect(promoted.status).toBe(200);
    expect(await promoted.json()).toMatchObject({ weight: 50, step: 1, stepState: "running" });
    expect((await readAudit(state, { kind: "canary", limit: 1 }))[0]?.actor).toBe("ann@127.0.0.1");
    const last = await call("/_dropship/canary/promote", { method: "POST", headers: admin });
    expect(last.status).toBe(409);
    expect(await last.text()).toContain("is at its last step (50%)");
    await changeCanary(state, { stepState: "none" }, "test");
    await Bun.sleep(50);
    const none = await call("/_dropship/canary/promote", { method: "POST", headers: admin });
    expect(none.status).toBe(409);
    expect(await none.text()).toContain("has no steps");
    const plain = (await (await call("/_dropship/status", { headers: admin })).json()) as {
      canary: { steps: string | null };
    };
    expect(plain.canary.steps).toBeNull();
  });
});

test("without DROPSHIP_ADMIN_TOKEN the admin API answers 503 and proxying goes on", async () => {
  const upstream = startUpstream("plain");
  const bare = await startServer("proxy", {
    REDIS_URL: redis.url,
    DROPSHIP_ADMIN_PORT: "0",
  });
  await addBackend(state, "production", upstream.url);
  const response = await fetch(`${bare.url}/disable/1`, { headers: admin });
  expect(response.status).toBe(503);
  expect(await response.text()).toContain("DROPSHIP_ADMIN_TOKEN");
  expect((await fetch(`${bare.url}/`)).status).toBe(200);
});

test("a token shorter than 16 characters stops the proxy at the door", () => {
  const proc = Bun.spawnSync([process.execPath, serverEntry("proxy")], {
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
