import type { TSchema } from "@sinclair/typebox";
import { Elysia } from "elysia";
import { checkCredentials } from "../shared/auth.ts";
import type { FlagClient } from "../shared/flags/client.ts";
import { BUILT_IN_FLAGS, describeFlag } from "../shared/flags/model.ts";
import { FlagChangeBody, FlagName } from "../shared/flags/schema.ts";
import { faultOf } from "../shared/records/faults.ts";
import { CanaryChangeBody } from "../shared/routing/schema.ts";
import {
  changeFlag,
  deleteFlag,
  FlagRefusedError,
  UnknownFlagError,
} from "../shared/state/flags.ts";
import type { RedisClient } from "../shared/state/redis.ts";
import {
  CANARY_ANALYSIS_ALERT,
  changeCanary,
  clearAlert,
  promoteCanary,
} from "../shared/state/routing.ts";
import type { UsersSource } from "../shared/users-file.ts";
import { holdStarted, judgeCredentials, WrongCredentials } from "../shared/wrong-credentials.ts";
import { crossOriginRefusal } from "./classify.ts";
import { ASSETS } from "./dashboard/assets.ts";
import { dashboardData } from "./dashboard/data.ts";
import { renderDashboard } from "./dashboard/page.ts";
import type { Metrics } from "./metrics.ts";
import { pathStart, reservedPath } from "./reserved.ts";
import type { Routing } from "./routing.ts";
import { type CertificateView, statusOf } from "./status.ts";

export interface AdminDeps {
  /** undefined: admin routes answer 503 until the proxy is started with a token */
  token: string | undefined;
  /** the named users, read afresh when their file changes */
  users: UsersSource;
  redis: RedisClient;
  routing: Routing;
  flags: FlagClient;
  metrics: Metrics;
  version: string;
  /** the peer address of a request, for the audit */
  peerOf: (request: Request) => string;
  /** the visitor's own address (behind trusted proxies, from X-Forwarded-For), whose wrong
   * credentials are counted; the peer's when not given */
  visitorOf?: (request: Request) => string;
  /** wrong credentials by address, shared by every listener of the process */
  wrongCredentials?: WrongCredentials;
  /** where refused changes are said */
  log: (line: string) => void;
  /** the certificates served, with their expiry (none without HTTPS) */
  certificates?: () => CertificateView[];
  /** the canary analysis's last word, where this process runs it */
  analysis?: () => string | null;
}

const text = (status: number, body: string, headers: Record<string, string> = {}) =>
  new Response(`${body}\n`, {
    status,
    headers: { "content-type": "text/plain; charset=utf-8", ...headers },
  });

const STATE_CHANGING = new Set(["PUT", "POST", "DELETE", "PATCH"]);

/** The admin listener: `/_dropship/*` and the seed's `/disable/1|0`, all behind the admin token. */
export function createAdmin(deps: AdminDeps) {
  const { routing, flags } = deps;
  const actors = new WeakMap<Request, string>();
  const status = () =>
    statusOf(routing, flags, deps.version, deps.certificates?.() ?? [], deps.analysis?.() ?? null);
  const actor = (request: Request) => actors.get(request) ?? "admin";
  const wrongCredentials = deps.wrongCredentials ?? new WrongCredentials();
  const visitorOf = deps.visitorOf ?? deps.peerOf;

  const save = async <T>(work: () => Promise<T>): Promise<T | Response> => {
    try {
      return await work();
    } catch (error) {
      return text(
        503,
        `The change was not saved: Redis is unreachable (${(error as Error).message}). Nothing changed; try again.`,
      );
    }
  };

  return (
    // normalize would drop unknown fields silently; a person sending one should hear of it
    new Elysia({ normalize: false })
      .onError(({ code }) => {
        if (code === "NOT_FOUND") return text(404, "Not found.");
        if (code === "PARSE") return text(400, "The body is not valid JSON.");
        // answered by the route's own hook, which knows the record's schema (checkedBody)
        if (code === "VALIDATION") return;
        return text(500, "Internal error in the admin API.");
      })
      // Before routing, so that an unknown path and a known one look the same without credentials.
      .onRequest(({ request }) => {
        const url = request.url;
        const path = reservedPath(url) ?? url.slice(pathStart(url)).split("?")[0];
        if (path === "/_dropship/healthz") return;
        if (!deps.token) {
          return text(
            503,
            "The admin API is off: start dropship-proxy with DROPSHIP_ADMIN_TOKEN set.",
          );
        }
        const visitor = visitorOf(request);
        const verdict = judgeCredentials(
          wrongCredentials,
          visitor,
          request.headers.get("authorization"),
          (authorization) => checkCredentials(authorization, deps.token ?? "", deps.users),
          performance.now(),
        );
        if (verdict.status === 429) {
          const { hold } = verdict;
          return text(429, `Refused: ${hold.reason}.`, { "retry-after": `${hold.retryAfterS}` });
        }
        if (!verdict.ok) {
          if (verdict.started)
            deps.log(holdStarted(visitor, "admin credentials", wrongCredentials, verdict.started));
          return text(
            401,
            `Admin credentials are needed: ${verdict.reason}. Send Authorization: Bearer <token>.`,
            {
              "www-authenticate": 'Basic realm="dropship", charset="UTF-8"',
            },
          );
        }
        const changing = STATE_CHANGING.has(request.method) || path?.startsWith("/disable/");
        const crossOrigin = changing ? crossOriginRefusal(request.headers) : undefined;
        if (crossOrigin) {
          deps.log(
            `403 ${request.method} ${path} for ${verdict.user}@${deps.peerOf(request)}: ${crossOrigin}`,
          );
          return text(
            403,
            `Refused: ${crossOrigin}. Change flags and the canary from the dashboard or the CLI.`,
          );
        }
        actors.set(request, `${verdict.user}@${deps.peerOf(request)}`);
      })
      .get("/_dropship/healthz", () =>
        Response.json({
          status: "ok",
          version: deps.version,
          healthy: {
            production: routing.pool.available("production"),
            staging: routing.pool.available("staging"),
          },
          stale: routing.mirror.status().stale,
        }),
      )
      .get("/disable/:value", async ({ params, request }) => {
        if (params.value !== "1" && params.value !== "0") {
          return text(
            400,
            `/disable/${params.value} is not valid: /disable/1 disables SET, /disable/0 enables it.`,
          );
        }
        const enabled = params.value === "1";
        const saved = await save(() =>
          changeFlag(deps.redis, "disableSET", { enabled, rollout: 100 }, actor(request), "create"),
        );
        if (saved instanceof Response) return saved;
        return text(
          200,
          `disableSET is ${enabled ? "on: SET is disabled" : "off: SET is enabled"}.`,
        );
      })
      .get("/_dropship/flags", () => Response.json(flags.all()))
      .put(
        "/_dropship/flags/:name",
        async ({ params, body, request }) => {
          const nameError = faultOf(FlagName, params.name, "flag name");
          if (nameError) return text(400, nameError);
          const change = { enabled: body.enabled, rollout: body.rollout ?? 100 };
          const saved = await save(() =>
            changeFlag(deps.redis, params.name, change, actor(request), "create"),
          );
          if (saved instanceof Response) return saved;
          return Response.json({ ...saved.now, state: describeFlag(saved.now) });
        },
        checkedBody(FlagChangeBody),
      )
      .delete("/_dropship/flags/:name", async ({ params, request }) => {
        const nameError = faultOf(FlagName, params.name, "flag name");
        if (nameError) return text(400, nameError);
        try {
          const builtIn = params.name in BUILT_IN_FLAGS;
          const was = await deleteFlag(deps.redis, params.name, actor(request), builtIn);
          return Response.json({ ...was, state: "deleted" });
        } catch (error) {
          if (error instanceof UnknownFlagError) return text(404, `No flag ${params.name}.`);
          if (error instanceof FlagRefusedError) return text(409, `${error.message}.`);
          return text(
            503,
            `The change was not saved: Redis is unreachable (${(error as Error).message}). Nothing changed; try again.`,
          );
        }
      })
      .get("/_dropship/status", () => Response.json(status()))
      .put(
        "/_dropship/canary",
        async ({ body, request }) => {
          const saved = await save(() =>
            changeCanary(deps.redis, { weight: body.weight }, actor(request)),
          );
          if (saved instanceof Response) return saved;
          return Response.json(saved.now);
        },
        checkedBody(CanaryChangeBody),
      )
      .post("/_dropship/canary/abort", async ({ request }) => {
        const saved = await save(() =>
          changeCanary(
            deps.redis,
            { state: "aborted", reason: `by ${actor(request)}` },
            actor(request),
          ),
        );
        if (saved instanceof Response) return saved;
        return Response.json(saved.now);
      })
      .post("/_dropship/canary/resume", async ({ request }) => {
        const saved = await save(async () => {
          await clearAlert(deps.redis, CANARY_ANALYSIS_ALERT, actor(request));
          return changeCanary(
            deps.redis,
            { state: "active", reason: `resumed by ${actor(request)}` },
            actor(request),
          );
        });
        if (saved instanceof Response) return saved;
        return Response.json(saved.now);
      })
      .post("/_dropship/canary/promote", async ({ request }) => {
        const saved = await save(() => promoteCanary(deps.redis, actor(request)));
        if (saved instanceof Response) return saved;
        return "fault" in saved ? text(409, `${saved.fault}.`) : Response.json(saved.now);
      })
      .get("/_dropship/metrics", () =>
        text(200, deps.metrics.render(gaugesOf(routing)).trimEnd(), {
          "content-type": "text/plain; version=0.0.4",
        }),
      )
      .get(
        "/_dropship/",
        () =>
          new Response(renderDashboard(status()), {
            headers: { "content-type": "text/html; charset=utf-8", ...PAGE_HEADERS },
          }),
      )
      .get("/_dropship/dashboard.json", async () =>
        Response.json(await dashboardData(status(), deps.metrics, deps.redis), {
          headers: { "cache-control": "no-store" },
        }),
      )
      .get("/_dropship/assets/uplot.js", () => asset(ASSETS.uplotJs, "text/javascript"))
      .get("/_dropship/assets/uplot.css", () => asset(ASSETS.uplotCss, "text/css"))
  );
}

/** A route's body checked against a record's schema, a fault answered in the records' wording. */
function checkedBody<S extends TSchema>(schema: S) {
  return {
    body: schema,
    error: ({ code, error }: { code: unknown; error: unknown }) => {
      if (code !== "VALIDATION") return;
      return text(400, faultOf(schema, (error as { value: unknown }).value) ?? "Invalid body.");
    },
  };
}

/** The page runs only its own scripts and talks only to this proxy. */
const PAGE_HEADERS = {
  "content-security-policy":
    "default-src 'self'; img-src 'self' data:; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'",
  "x-content-type-options": "nosniff",
  "cache-control": "no-store",
};

const asset = (body: string, type: string) =>
  new Response(body, {
    headers: { "content-type": `${type}; charset=utf-8`, "cache-control": "max-age=3600" },
  });

function gaugesOf(routing: Routing) {
  return {
    canaryWeight: routing.canary.weight,
    canaryBlocked: routing.blockedBecause !== undefined,
    alerts: routing.alerts.length,
    stale: routing.mirror.status().stale,
    backends: routing.pool.all().map((m) => ({
      track: m.backend.track,
      backend: m.backend.id,
      healthy: m.health.healthy,
      inFlight: m.inFlight,
    })),
  };
}
