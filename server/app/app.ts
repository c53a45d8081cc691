import { Elysia } from "elysia";
import type { FlagStatus } from "../shared/flags/client.ts";
import { escapeHtml } from "../shared/html.ts";
import { sniffImage } from "./images.ts";
import { clientIdOf, parseKey, parseSet } from "./requests.ts";
import type { AppStore } from "./store.ts";

export type Track = "production" | "staging";
export type Phase = "starting" | "serving" | "draining";

export interface AppDeps {
  store: AppStore;
  flags: { isEnabled(name: string, clientId?: string): boolean; status(): FlagStatus };
  info: { track: Track; version: string; host: string };
  /** where the app is in its life: /healthz fails while starting or draining */
  phase: () => Phase;
  redisUp: () => boolean;
  inFlight: () => number;
  maxUploadBytes: number;
}

const plain = (status: number, body: string) =>
  new Response(`${body}\n`, { status, headers: { "content-type": "text/plain; charset=utf-8" } });

const unavailable = () =>
  plain(503, "the data store (Redis) is unreachable right now; try again in a few seconds");

/** dropship-app: the seed's sample app, kept small. */
export function createApp(deps: AppDeps) {
  const { store, flags, info } = deps;
  return new Elysia()
    .onError(({ code, error }) => {
      if (code === "NOT_FOUND") return plain(404, "no such page");
      if (code === "PARSE" || code === "VALIDATION") return plain(400, "malformed request");
      console.error(`app: ${(error as Error).message ?? error}`);
      return plain(500, "internal error");
    })
    .onRequest(({ request }) => {
      const path = new URL(request.url).pathname;
      if (path !== "/healthz" && path !== "/favicon.ico") store.recordVisit(path).catch(() => {});
    })
    .get("/", () => plain(200, `Hello from dropship ${info.track} ${info.version} on ${info.host}`))
    .get("/set", async ({ query, request, server }) => {
      const clientId = clientIdOf(request.headers, server?.requestIP(request)?.address);
      if (flags.isEnabled("disableSET", clientId)) {
        return plain(403, "SET is disabled by the feature flag disableSET; nothing was stored");
      }
      const parsed = parseSet(query);
      if (!parsed.ok) return plain(400, parsed.error);
      const { key, value, ttl } = parsed.value;
      try {
        await store.setMessage(key, value, ttl);
      } catch {
        return unavailable();
      }
      return plain(200, `stored ${key} for ${ttl} s`);
    })
    .get("/get", async ({ query }) => {
      const key = parseKey(query.key);
      if (!key.ok) return plain(400, key.error);
      try {
        const value = await store.getMessage(key.value);
        return value === null
          ? plain(
              404,
              `nothing stored under ${key.value} — it may have expired; store one with /set`,
            )
          : plain(200, value);
      } catch {
        return unavailable();
      }
    })
    .get("/recent", async () => {
      try {
        return Response.json(await store.recent());
      } catch {
        return unavailable();
      }
    })
    .post("/upload", ({ request }) => upload(request, deps), { parse: "none" })
    .get("/meow", async () => {
      let images: Awaited<ReturnType<AppStore["drain"]>>;
      try {
        images = await store.drain();
      } catch {
        return unavailable();
      }
      const body =
        images.length === 0
          ? "<p>No cats in the queue. POST an image to /upload.</p>"
          : images
              .map((i) => `<img src="data:${escapeHtml(i.type)};base64,${escapeHtml(i.data)}">`)
              .join("\n");
      return new Response(`<!doctype html><title>meow</title><h1>meow</h1>\n${body}\n`, {
        headers: { "content-type": "text/html; charset=utf-8" },
      });
    })
    .get("/healthz", () => {
      const phase = deps.phase();
      const redis = deps.redisUp();
      const status = phase !== "serving" ? phase : redis ? "ok" : "degraded";
      return Response.json(
        {
          status,
          version: info.version,
          track: info.track,
          host: info.host,
          redis: redis ? "up" : "down",
          flags: flags.status(),
          inFlight: Math.max(0, deps.inFlight() - 1),
        },
        { status: phase === "serving" ? 200 : 503 },
      );
    });
}

async function upload(request: Request, deps: AppDeps): Promise<Response> {
  const limit = deps.maxUploadBytes;
  const tooLarge = () => plain(413, `the image is larger than ${limit} bytes; send a smaller one`);
  const declared = Number(request.headers.get("content-length") ?? "0");
  if (declared > limit + 4096) return tooLarge();
  const type = request.headers.get("content-type") ?? "";
  let bytes: Uint8Array;
  try {
    if (type.startsWith("multipart/form-data")) {
      const form = await request.formData();
      const file = form.get("image");
      if (!(file instanceof Blob)) {
        return plain(400, "no file in the form field image; send it as image=@cat.png");
      }
      bytes = new Uint8Array(await file.arrayBuffer());
    } else if (type.startsWith("image/") || type === "application/octet-stream") {
      bytes = new Uint8Array(await request.arrayBuffer());
    } else {
      return plain(415, "send an image as multipart/form-data (field image) or as an image/* body");
    }
  } catch {
    return plain(400, "malformed upload: the body could not be read as the content type says");
  }
  if (bytes.length > limit) return tooLarge();
  if (bytes.length === 0) return plain(400, "the upload is empty");
  const mime = sniffImage(bytes);
  if (!mime) return plain(415, "that is not an image dropship knows (PNG, JPEG, GIF or WebP)");
  try {
    const queued = await deps.store.enqueue({
      type: mime,
      data: Buffer.from(bytes).toString("base64"),
    });
    return plain(201, `queued a ${mime} of ${bytes.length} bytes (${queued} in the queue)`);
  } catch {
    return unavailable();
  }
}
