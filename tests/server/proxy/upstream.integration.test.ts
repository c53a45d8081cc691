import { afterAll, expect, test } from "bun:test";
import type { Socket } from "bun";
import { run } from "../../../server/shared/proc.ts";
import { track } from "../../helpers/processes.ts";
import { addBackend, admin, startProxy } from "../../helpers/proxy.ts";
import { connectTo, startRedis } from "../../helpers/redis.ts";
import { eventually, expectLogged } from "../../helpers/server.ts";

/**
 * The proxy's upstream client against backends that answer wrongly, on raw sockets: each
 * path of this backend sends exactly the bytes scripted for it.
 */
const SCRIPTS: Record<string, string> = {
  "/ok": "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
  "/healthz": "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
  "/smuggle": "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
  "/split":
    "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\nsmuggled",
  "/fold": "HTTP/1.1 200 OK\r\nX-A: 1\r\n 2\r\nContent-Length: 2\r\n\r\nok",
  "/bare-lf": "HTTP/1.1 200 OK\nContent-Length: 2\n\nok",
  "/early-hints":
    "HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
  "/no-content-junk":
    "HTTP/1.1 204 No Content\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\nsmuggled",
  "/bad-chunk": "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nsmuggled\r\n0\r\n\r\n",
  "/chunked":
    "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n3;x=y\r\ndef\r\n0\r\nX-T: 1\r\n\r\n",
  "/huge-head": `HTTP/1.1 200 OK\r\nX-Big: ${"a".repeat(70_000)}\r\nContent-Length: 2\r\n\r\nok`,
};
/** answered, then more bytes on the idle connection a moment later */
const LATE_JUNK = "HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\nsmuggled";

const seen: string[] = [];
const backend = Bun.listen<{ buffer: string }>({
  hostname: "127.0.0.1",
  port: 0,
  socket: {
    open(socket) {
      socket.data = { buffer: "" };
    },
    data(socket: Socket<{ buffer: string }>, chunk) {
      socket.data.buffer += chunk.toString("latin1");
      for (;;) {
        const end = socket.data.buffer.indexOf("\r\n\r\n");
        if (end < 0) return;
        const head = socket.data.buffer.slice(0, end);
        socket.data.buffer = socket.data.buffer.slice(end + 4);
        const path = head.split(" ")[1] ?? "";
        seen.push(path);
        if (path === "/close-delimited") {
          socket.write("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil ");
          setTimeout(() => {
            socket.write("close");
            socket.end();
          }, 50);
        } else if (path === "/truncated") {
          socket.write("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort");
          socket.end();
        } else if (path === "/late-junk") {
          socket.write("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
          setTimeout(() => socket.write(LATE_JUNK), 30);
        } else {
          socket.write(SCRIPTS[path] ?? "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n");
        }
      }
    },
  },
});
afterAll(() => backend.stop(true));

const redis = await startRedis();
const state = await connectTo(redis);
const backendUrl = `http://127.0.0.1:${backend.port}`;
await addBackend(state, "production", backendUrl);
const proxy = await startProxy(redis, "health: { interval: 200ms, timeout: 1s }\n");

async function get(path: string) {
  const response = await fetch(`${proxy.url}${path}`);
  return { status: response.status, body: await response.text(), headers: response.headers };
}

/** Twenty ordinary requests afterwards: none may carry bytes a backend slipped in. */
async function nothingSlippedThrough() {
  const answers = await Promise.all(Array.from({ length: 20 }, () => get("/ok")));
  expect(answers.map((a) => `${a.status} ${a.body}`)).toEqual(answers.map(() => "200 ok"));
}

test("a sized, a chunked and a close-delimited answer arrive whole; interim 103 is not passed on", async () => {
  expect(await get("/ok")).toMatchObject({ status: 200, body: "ok" });
  const chunked = await get("/chunked");
  expect(chunked).toMatchObject({ status: 200, body: "abcdef" });
  expect(chunked.headers.get("content-length")).toBe("6");
  expect(await get("/close-delimited")).toMatchObject({ status: 200, body: "until close" });
  expect(await get("/early-hints")).toMatchObject({ status: 200, body: "hello" });
});

for (const [path, why] of [
  ["/smuggle", "both Transfer-Encoding and Content-Length"],
  ["/fold", "obs-fold"],
  ["/bare-lf", "CRLF"],
  ["/bad-chunk", "chunked body is malformed"],
  ["/huge-head", "larger than 65536 bytes"],
] as const) {
  test(`${path}: the visitor gets a 502, the backend stays in, and it is logged`, async () => {
    const answer = await get(path);
    expect(answer.status).toBe(502);
    expect(answer.body).toContain("malformed answer");
    expect(answer.body).not.toContain("smuggled");
    await nothingSlippedThrough();
    await expectLogged(
      () => proxy.stderr(),
      new RegExp(`502 GET ${path}: .* answered malformed HTTP: .*${why}`),
    );
  });
}

test("bytes after a sized answer, after a 204, or on an idle connection never reach anyone", async () => {
  expect(await get("/split")).toMatchObject({ status: 200, body: "ok" });
  await nothingSlippedThrough();
  expect((await get("/no-content-junk")).status).toBe(204);
  await nothingSlippedThrough();
  expect(await get("/late-junk")).toMatchObject({ status: 200, body: "ok" });
  await Bun.sleep(100);
  await nothingSlippedThrough();
});

test("an answer cut short is never passed on as whole", async () => {
  const answer = await get("/truncated");
  expect(answer.status).toBe(502);
  expect(answer.body).toContain("cut short");
  expect(answer.body.startsWith("short")).toBe(false);
});

afterAll(() => proxy.stop());

/**
 * A backend whose droplet has gone (SYNs go unanswered; here a namespace of this test's own
 * whose firewall starts dropping them): the connect times out after proxy.connect_timeout,
 * and even a POST goes to the other backend, since nothing of it was sent.
 */
test("a backend that takes no connections: after connect_timeout even a POST goes elsewhere", async () => {
  const ns = `dsct-${process.pid}`;
  const veth = `dsct${process.pid % 100000}`;
  const sh = (...argv: string[]) => run(argv, { allowFailure: true });
  sh("ip", "netns", "add", ns);
  sh("ip", "link", "add", `${veth}h`, "type", "veth", "peer", "name", `${veth}c`);
  sh("ip", "link", "set", `${veth}c`, "netns", ns);
  sh("ip", "addr", "add", "10.213.7.1/30", "dev", `${veth}h`);
  sh("ip", "link", "set", `${veth}h`, "up");
  sh("ip", "netns", "exec", ns, "ip", "addr", "add", "10.213.7.2/30", "dev", `${veth}c`);
  sh("ip", "netns", "exec", ns, "ip", "link", "set", `${veth}c`, "up");
  const gone = track(
    Bun.spawn(
      [
        "ip",
        "netns",
        "exec",
        ns,
        process.execPath,
        "-e",
        'Bun.serve({ hostname: "10.213.7.2", port: 8080, fetch: () => new Response("ok") }); console.log("up");',
      ],
      { stdout: "pipe" },
    ),
  );
  await gone.stdout.getReader().read();
  const good = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    fetch: async (request) =>
      new Response(request.method === "POST" ? `got ${(await request.text()).length}` : "ok"),
  });
  const redis2 = await startRedis();
  const state2 = await connectTo(redis2);
  await addBackend(state2, "production", "http://10.213.7.2:8080");
  await addBackend(state2, "production", `http://127.0.0.1:${good.port}`);
  const fenced = await startProxy(
    redis2,
    "health: { interval: 5s, timeout: 1s }\nproxy: { connect_timeout: 300ms }\n",
  );
  try {
    const status = async () =>
      (await (await fetch(`${fenced.adminUrl}/_dropship/status`, { headers: admin })).json()) as {
        backends: { id: string; healthy: boolean; reason: string | null }[];
      };
    expect((await status()).backends.map((b) => b.healthy)).toEqual([true, true]);
    // the droplet goes silent: SYNs dropped, nothing refused
    run([
      "ip",
      "netns",
      "exec",
      ns,
      "nft",
      "add table inet gone; add chain inet gone in { type filter hook input priority 0; policy drop; }",
    ]);
    const started = performance.now();
    const answers = await Promise.all(
      Array.from({ length: 6 }, () =>
        fetch(`${fenced.url}/upload`, { method: "POST", body: "x".repeat(1000) }).then(
          async (r) => `${r.status} ${await r.text()}`,
        ),
      ),
    );
    const took = performance.now() - started;
    expect(answers).toEqual(answers.map(() => "200 got 1000"));
    // one went to the silent backend first and waited out the connect timeout
    expect(took).toBeGreaterThanOrEqual(300);
    // workers report it out to the host's status within a report interval
    const silent = async () => (await status()).backends.find((b) => b.id === "10.213.7.2:8080");
    await eventually(async () => (await silent())?.healthy === false, 2_000, "reported out");
    expect((await silent())?.reason).toContain("connect_timeout");
  } finally {
    fenced.stop();
    good.stop(true);
    gone.kill("SIGKILL");
    sh("ip", "link", "del", `${veth}h`);
    sh("ip", "netns", "del", ns);
  }
}, 30_000);
