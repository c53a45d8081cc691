/**
 * A floor probe, not a product: the least a Bun.serve + fetch() proxy can do — round-robin,
 * no header work, no routing — to show how much of dropship-proxy's cost is its own logic.
 */
const upstreams = (process.env.UPSTREAMS ?? "").split(",");
let turn = 0;
const server = Bun.serve({
  port: Number(process.env.PORT ?? 0),
  hostname: "127.0.0.1",
  fetch(request) {
    const url = request.url;
    const path = url.slice(url.indexOf("/", url.indexOf("//") + 2));
    const upstream = upstreams[turn++ % upstreams.length];
    return fetch(upstream + path, { headers: request.headers, decompress: false });
  },
});
console.log(`listening on ${server.port}`);

export {};
