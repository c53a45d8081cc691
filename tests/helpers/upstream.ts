import { afterAll } from "bun:test";
import { gzipSync } from "node:zlib";

export interface Received {
  method: string;
  path: string;
  headers: Record<string, string>;
  bodyBytes: number;
  bodySha: string;
}

export interface Upstream {
  readonly name: string;
  readonly url: string;
  readonly received: Received[];
  /** what every ordinary route answers with: 200 by default */
  status: number;
  /** whether /healthz passes */
  healthy: boolean;
  /** requests to /hang whose client went away before the answer */
  cancelled: number;
  stop(): void;
}

export const BIG_BODY = new Uint8Array(1024 * 1024).map((_, i) => i % 251);

/**
 * A real HTTP server on a loopback port that records what it receives and has a route for
 * each edge case a proxy must carry: big, chunked, gzip, cookies, 304, slow, status codes.
 */
export function startUpstream(name: string): Upstream {
  const received: Received[] = [];
  const upstream = {
    name,
    received,
    status: 200,
    healthy: true,
    cancelled: 0,
  } as Upstream;
  const server = Bun.serve({
    port: 0,
    hostname: "127.0.0.1",
    async fetch(request) {
      const url = new URL(request.url);
      const body = new Uint8Array(await request.arrayBuffer());
      const headers: Record<string, string> = {};
      request.headers.forEach((value, key) => {
        headers[key] = value;
      });
      if (url.pathname !== "/healthz") {
        received.push({
          method: request.method,
          path: url.pathname + url.search,
          headers,
          bodyBytes: body.length,
          bodySha: new Bun.CryptoHasher("sha256").update(body).digest("hex"),
        });
      }
      switch (url.pathname) {
        case "/healthz":
          return Response.json(
            { status: "ok", version: name },
            { status: upstream.healthy ? 200 : 503 },
          );
        case "/big":
          return new Response(BIG_BODY, {
            headers: { "content-type": "application/octet-stream" },
          });
        case "/chunked":
          return new Response(
            new ReadableStream({
              async start(controller) {
                for (let i = 0; i < 5; i++) {
                  controller.enqueue(new TextEncoder().encode(`chunk ${i}\n`));
                  await Bun.sleep(20);
                }
                controller.close();
              },
            }),
            { headers: { "content-type": "text/plain" } },
          );
        case "/gzip":
          return new Response(gzipSync(`compressed by ${name}`), {
            headers: { "content-encoding": "gzip", "content-type": "text/plain" },
          });
        case "/cookies": {
          const out = new Headers({ "content-type": "text/plain" });
          out.append("set-cookie", "first=1; Path=/");
          out.append("set-cookie", "second=2; Path=/");
          out.set("x-hop", "must go");
          out.set("connection", "x-hop");
          return new Response("cookies", { headers: out });
        }
        case "/see-other":
          // post/redirect/get: an empty body, Content-Length: 0
          return new Response(null, { status: 303, headers: { location: "/" } });
        case "/not-modified":
          return new Response(null, { status: 304, headers: { etag: '"v1"' } });
        case "/slow":
          await Bun.sleep(Number(url.searchParams.get("ms") ?? 500));
          return new Response(`slow ${name}`);
        case "/hang": {
          const ms = Number(url.searchParams.get("ms") ?? 2000);
          const gone = new Promise<boolean>((resolve) => {
            request.signal.addEventListener("abort", () => resolve(true), { once: true });
            setTimeout(() => resolve(false), ms);
          });
          if (await gone) upstream.cancelled++;
          return new Response(`hung ${name}`);
        }
        case "/quiet": {
          // an event stream that says one thing, stays quiet for `ms`, then says another
          const ms = Number(url.searchParams.get("ms") ?? 2000);
          return new Response(
            new ReadableStream({
              async start(controller) {
                controller.enqueue(new TextEncoder().encode("data: first\n\n"));
                await Bun.sleep(ms);
                controller.enqueue(new TextEncoder().encode("data: second\n\n"));
                controller.close();
              },
            }),
            { headers: { "content-type": "text/event-stream", "cache-control": "no-cache" } },
          );
        }
        case "/fail":
          return new Response(`failing ${name}`, { status: 500 });
        default:
          return new Response(`${name} ${request.method} ${url.pathname}`, {
            status: upstream.status,
          });
      }
    },
  });
  Object.assign(upstream, {
    url: `http://127.0.0.1:${server.port}`,
    stop: () => server.stop(true),
  });
  afterAll(() => server.stop(true));
  return upstream;
}
