import { timingSafeEqual } from "node:crypto";
import { Elysia } from "elysia";
import { ApiFault } from "./fault.ts";
import type { CreateRequest, Fleet } from "./fleet.ts";

export interface ApiOptions {
  token: string;
  /** requests a minute before 429, as DigitalOcean's per-minute limit */
  ratePerMinute: number;
  /** the base URL links point at */
  baseUrl: string;
}

const digest = (text: string) => new Bun.CryptoHasher("sha256").update(text).digest();

/** DigitalOcean's error body: `{"id", "message", "request_id"}`. */
function fault(status: number, id: string, message: string, headers: Record<string, string> = {}) {
  return Response.json({ id, message, request_id: crypto.randomUUID() }, { status, headers });
}

/**
 * The API v2 calls dropship makes, with the real paths, fields, status codes, error bodies and
 * rate-limit headers (RateLimit-Limit, -Remaining, -Reset as a Unix time; Retry-After on 429).
 */
export function createApi(fleet: Fleet, options: ApiOptions) {
  let windowStart = Math.floor(Date.now() / 60_000);
  let used = 0;
  const limits = new WeakMap<Request, Record<string, string>>();

  return new Elysia()
    .onError(({ code, error, request }) => {
      const headers = limits.get(request) ?? {};
      if (error instanceof ApiFault) return fault(error.status, error.id, error.message, headers);
      if (code === "NOT_FOUND")
        return fault(
          404,
          "not_found",
          "The resource you were accessing could not be found.",
          headers,
        );
      if (code === "PARSE")
        return fault(400, "bad_request", "The request body is not valid JSON.", headers);
      return fault(500, "server_error", `Server error: ${(error as Error).message}`, headers);
    })
    .onRequest(({ request }) => {
      const minute = Math.floor(Date.now() / 60_000);
      if (minute !== windowStart) {
        windowStart = minute;
        used = 0;
      }
      const reset = (windowStart + 1) * 60;
      const headers = {
        "RateLimit-Limit": String(options.ratePerMinute),
        "RateLimit-Remaining": String(Math.max(0, options.ratePerMinute - used - 1)),
        "RateLimit-Reset": String(reset),
      };
      limits.set(request, headers);
      const auth = request.headers.get("authorization") ?? "";
      const given = auth.startsWith("Bearer ") ? auth.slice(7) : "";
      if (!timingSafeEqual(digest(given), digest(options.token))) {
        return fault(401, "unauthorized", "Unable to authenticate you", headers);
      }
      if (used >= options.ratePerMinute) {
        const retry = String(Math.max(1, reset - Math.floor(Date.now() / 1000)));
        return fault(429, "too_many_requests", "API Rate limit exceeded.", {
          ...headers,
          "Retry-After": retry,
        });
      }
      used++;
    })
    .onAfterHandle(({ request, set }) => {
      Object.assign(set.headers, limits.get(request) ?? {});
    })
    .post("/v2/account/keys", ({ body, set }) => {
      set.status = 201;
      return { ssh_key: fleet.addKey((body ?? {}) as { name?: unknown; public_key?: unknown }) };
    })
    .get("/v2/account/keys", () => {
      const keys = fleet.listKeys();
      return { ssh_keys: keys, links: {}, meta: { total: keys.length } };
    })
    .post("/v2/droplets", ({ body, set }) => {
      const droplet = fleet.create((body ?? {}) as CreateRequest);
      const action = fleet.createActionOf(droplet.id);
      set.status = 202;
      return {
        droplet,
        links: {
          actions: action
            ? [{ id: action.id, rel: "create", href: `${options.baseUrl}/v2/actions/${action.id}` }]
            : [],
        },
      };
    })
    .get("/v2/droplets", ({ query }) => {
      const page = Math.max(1, Number(query.page ?? 1) || 1);
      const perPage = Math.min(200, Math.max(1, Number(query.per_page ?? 20) || 20));
      const all = fleet.list(query.tag_name || undefined);
      const droplets = all.slice((page - 1) * perPage, page * perPage);
      const pages: Record<string, string> = {};
      const last = Math.max(1, Math.ceil(all.length / perPage));
      const link = (p: number) =>
        `${options.baseUrl}/v2/droplets?page=${p}&per_page=${perPage}${query.tag_name ? `&tag_name=${encodeURIComponent(query.tag_name)}` : ""}`;
      if (page < last) Object.assign(pages, { next: link(page + 1), last: link(last) });
      if (page > 1) Object.assign(pages, { first: link(1), prev: link(page - 1) });
      return {
        droplets,
        links: Object.keys(pages).length ? { pages } : {},
        meta: { total: all.length },
      };
    })
    .get("/v2/droplets/:id", ({ params }) => ({ droplet: fleet.get(Number(params.id)) }))
    .delete("/v2/droplets/:id", ({ params, set }) => {
      fleet.delete(Number(params.id));
      set.status = 204;
      return "";
    })
    .post("/v2/droplets/:id/actions", ({ params, body, set }) => {
      set.status = 201;
      return { action: fleet.act(Number(params.id), body) };
    })
    .get("/v2/droplets/:id/actions", ({ params }) => {
      const actions = fleet.listActions(Number(params.id));
      return { actions, links: {}, meta: { total: actions.length } };
    })
    .get("/v2/droplets/:id/actions/:action", ({ params }) => ({
      action: fleet.getAction(Number(params.action), Number(params.id)),
    }))
    .get("/v2/actions/:id", ({ params }) => ({ action: fleet.getAction(Number(params.id)) }))
    .post("/v2/firewalls", ({ body, set }) => {
      set.status = 202;
      return { firewall: fleet.createFirewall(body) };
    })
    .get("/v2/firewalls", () => {
      const firewalls = fleet.listFirewalls();
      return { firewalls, links: {}, meta: { total: firewalls.length } };
    })
    .get("/v2/firewalls/:id", ({ params }) => ({ firewall: fleet.getFirewall(params.id) }))
    .put("/v2/firewalls/:id", ({ params, body }) => ({
      firewall: fleet.updateFirewall(params.id, body),
    }))
    .delete("/v2/firewalls/:id", ({ params, set }) => {
      fleet.deleteFirewall(params.id);
      set.status = 204;
      return "";
    })
    .post("/v2/load_balancers", ({ body, set }) => {
      set.status = 202;
      return { load_balancer: fleet.balancers.create(body) };
    })
    .get("/v2/load_balancers", () => {
      const balancers = fleet.balancers.list();
      return { load_balancers: balancers, links: {}, meta: { total: balancers.length } };
    })
    .get("/v2/load_balancers/:id", ({ params }) => ({
      load_balancer: fleet.balancers.get(params.id),
    }))
    .put("/v2/load_balancers/:id", async ({ params, body }) => ({
      load_balancer: await fleet.balancers.update(params.id, body),
    }))
    .delete("/v2/load_balancers/:id", ({ params, set }) => {
      fleet.balancers.delete(params.id);
      set.status = 204;
      return "";
    })
    .post("/v2/load_balancers/:id/droplets", async ({ params, body, set }) => {
      await fleet.balancers.changeDroplets(params.id, true, body);
      set.status = 204;
      return "";
    })
    .delete("/v2/load_balancers/:id/droplets", async ({ params, body, set }) => {
      await fleet.balancers.changeDroplets(params.id, false, body);
      set.status = 204;
      return "";
    })
    .post("/v2/domains", async ({ body, set }) => {
      const domain = await fleet.createDomain(body);
      set.status = 201;
      return { domain };
    })
    .get("/v2/domains", () => {
      const domains = fleet.listDomains();
      return { domains, links: {}, meta: { total: domains.length } };
    })
    .get("/v2/domains/:name", ({ params }) => ({ domain: fleet.getDomain(params.name) }))
    .delete("/v2/domains/:name", async ({ params, set }) => {
      await fleet.deleteDomain(params.name);
      set.status = 204;
      return "";
    })
    .get("/v2/domains/:name/records", ({ params, query }) => {
      const records = fleet.listRecords(params.name, { type: query.type, name: query.name });
      return { domain_records: records, links: {}, meta: { total: records.length } };
    })
    .post("/v2/domains/:name/records", async ({ params, body, set }) => {
      const record = await fleet.createRecord(params.name, body);
      set.status = 201;
      return { domain_record: record };
    })
    .get("/v2/domains/:name/records/:id", ({ params }) => {
      const record = fleet.listRecords(params.name).find((r) => r.id === Number(params.id));
      if (!record)
        throw new ApiFault(404, "not_found", "The resource you were accessing could not be found.");
      return { domain_record: record };
    })
    .put("/v2/domains/:name/records/:id", async ({ params, body }) => ({
      domain_record: await fleet.updateRecord(params.name, Number(params.id), body),
    }))
    .patch("/v2/domains/:name/records/:id", async ({ params, body }) => ({
      domain_record: await fleet.updateRecord(params.name, Number(params.id), body),
    }))
    .delete("/v2/domains/:name/records/:id", async ({ params, set }) => {
      await fleet.deleteRecord(params.name, Number(params.id));
      set.status = 204;
      return "";
    })
    .post("/v2/firewalls/:id/:part", ({ params, body, set }) => {
      fleet.changeFirewall(params.id, partOf(params.part), true, objectOf(body));
      set.status = 204;
      return "";
    })
    .delete("/v2/firewalls/:id/:part", ({ params, body, set }) => {
      fleet.changeFirewall(params.id, partOf(params.part), false, objectOf(body));
      set.status = 204;
      return "";
    });
}

/** The parts of a firewall that have their own add and remove calls. */
function partOf(part: string): "droplets" | "tags" | "rules" {
  if (part === "droplets" || part === "tags" || part === "rules") return part;
  throw new ApiFault(404, "not_found", "The resource you were accessing could not be found.");
}

const objectOf = (body: unknown): Record<string, unknown> =>
  body && typeof body === "object" && !Array.isArray(body) ? (body as Record<string, unknown>) : {};
