/** A minimal upstream for proxy benchmarks: a fixed small body, as a cheap app would answer. */
const body = "hello from the benchmark upstream\n";
const server = Bun.serve({
  port: Number(process.env.PORT ?? 0),
  hostname: "127.0.0.1",
  fetch: (request) =>
    new URL(request.url).pathname === "/healthz"
      ? Response.json({ status: "ok", version: "bench" })
      : new Response(body, { headers: { "content-type": "text/plain" } }),
});
console.log(`upstream listening on http://127.0.0.1:${server.port}`);

export {};
