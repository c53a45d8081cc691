import { afterAll, expect, test } from "bun:test";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { backendIdFor } from "../../../server/shared/routing/model.ts";
import { addBackend, startProxy } from "../../helpers/proxy.ts";
import { rawRequest, statusOf } from "../../helpers/raw.ts";
import { connectTo, startRedis } from "../../helpers/redis.ts";
import { eventually } from "../../helpers/server.ts";
import { fileTempDir } from "../../helpers/tmp.ts";
import { startUpstream } from "../../helpers/upstream.ts";

const redis = await startRedis();
const state = await connectTo(redis);
const upstream = startUpstream("logged");
await addBackend(state, "production", upstream.url);
const backend = backendIdFor(upstream.url);
const dir = fileTempDir("access-log-");
const path = join(dir, "access.log");
// workers: auto, as on a droplet: two workers write, the supervisor only rotates
const proxy = await startProxy(redis, undefined, { DROPSHIP_ACCESS_LOG: path });
afterAll(() => proxy.stop());

const logged = () => (existsSync(path) ? readFileSync(path, "utf8") : "");
/** The access log's line for a request id, once the proxy has written it (every 200 ms). */
async function lineOf(requestId: string): Promise<string> {
  let line: string | undefined;
  await eventually(
    async () => {
      line = logged()
        .split("\n")
        .find((l) => l.includes(` request_id=${requestId} `));
      return line !== undefined;
    },
    5000,
    `the access log's line for ${requestId}`,
  );
  return line as string;
}

test("an answer's line: time, status, method, path without its query, host, size, track, backend, visitor, id and agent", async () => {
  const before = Date.now();
  const response = await fetch(`${proxy.url}/cart/3?token=secret-token-value`, {
    headers: { "x-request-id": "trace-ok-1", "user-agent": "shop-test/1.0" },
  });
  expect(response.status).toBe(200);
  const line = await lineOf("trace-ok-1");
  expect(line).toMatch(
    new RegExp(
      `^(\\S+Z) status=200 method=GET path=/cart/3 host=${new URL(proxy.url).host.replace(/[.]/g, "\\.")} ms=\\d+(\\.\\d)? bytes=${"logged GET /cart/3".length} track=production backend=${backend.replace(/[.]/g, "\\.")} visitor=127\\.0\\.0\\.1 request_id=trace-ok-1 user_agent=shop-test/1\\.0$`,
    ),
  );
  const at = Date.parse(line.split(" ")[0] as string);
  expect(at).toBeGreaterThanOrEqual(before);
  expect(at).toBeLessThanOrEqual(Date.now());
  expect(logged()).not.toContain("secret-token-value");
});

test("a stranger's bytes in the agent and path are escaped onto one line; a head that cannot be read is logged by status alone", async () => {
  const hostile = await rawRequest(
    proxy.url,
    Buffer.from(
      'GET /k=v/"q" HTTP/1.1\r\nHost: shop.example\r\nX-Request-Id: trace-hostile-1\r\nUser-Agent: say "hi" \\ \x9b2J end=1 status=500\r\n\r\n',
      "latin1",
    ),
  );
  expect(statusOf(hostile)).toBe(200);
  const line = await lineOf("trace-hostile-1");
  expect(line).toEndWith(' user_agent="say \\"hi\\" \\\\ \\x9b2J end=1 status=500"');
  // as it went on (the quotes encoded behind the front); a value with "=" is quoted
  expect(line).toContain(' path="/k=v/%22q%22" ');
  expect(line.match(/ status=/g)).toHaveLength(2); // its own, and the quoted one

  // a request id the proxy does not take (it goes in unescaped, being the proxy's own): replaced
  const forged = await rawRequest(
    proxy.url,
    'GET /forged HTTP/1.1\r\nHost: shop.example\r\nX-Request-Id: x status=500 user_agent="a"\r\nUser-Agent: forged-id-test\r\n\r\n',
  );
  expect(statusOf(forged)).toBe(200);
  const given = /x-request-id: (\S+)/i.exec(forged)?.[1] as string;
  expect(given).toMatch(/^[0-9a-f-]{36}$/);
  expect(await lineOf(given)).toEndWith(" user_agent=forged-id-test");
  expect(logged()).not.toContain("x status=500");

  // a control character in the target: refused by the front, logged with what is known
  const before = logged().split("\n").length;
  const bad = await rawRequest(proxy.url, "GET /x\x01y HTTP/1.1\r\nHost: shop.example\r\n\r\n");
  expect(statusOf(bad)).toBe(400);
  const id = /x-request-id: (\S+)/i.exec(bad)?.[1] as string;
  expect(await lineOf(id)).toMatch(
    /^\S+Z status=400 method=- path=- host=- ms=0 bytes=\d+ track=- backend=- visitor=127\.0\.0\.1 request_id=\S+ user_agent=-$/,
  );
  expect(logged().split("\n").length).toBe(before + 1);
  // a method this proxy does not serve: refused behind the front, logged with its path
  const trace = await rawRequest(
    proxy.url,
    "TRACE /debug?x=1 HTTP/1.1\r\nHost: shop.example\r\nX-Request-Id: trace-405\r\n\r\n",
  );
  expect(statusOf(trace)).toBe(405);
  expect(await lineOf("trace-405")).toMatch(
    / status=405 method=TRACE path=\/debug host=shop\.example ms=0 bytes=\d+ /,
  );
});

test("the size is the body's as its head gave it: whole, none for a HEAD, unknown for a stream without a length; a stranger's Host stays one value", async () => {
  const sized = async (path: string, method = "GET") => {
    const id = `trace-size-${method}${path.replace(/\W/g, "-")}`;
    const response = await fetch(`${proxy.url}${path}`, {
      method,
      headers: { "x-request-id": id },
    });
    await response.arrayBuffer();
    return / bytes=(\S+) /.exec(await lineOf(id))?.[1];
  };
  expect(await sized("/big")).toBe(String(1024 * 1024));
  expect(await sized("/chunked")).toBe("-");
  expect(await sized("/cart/4", "HEAD")).toBe("0");
  expect(await sized("/not-modified")).toBe("0");

  // Host is the visitor's to choose: a malformed one is refused, and logged quoted and escaped
  // like the rest, never a field of its own
  const hostile = await rawRequest(
    proxy.url,
    'GET /hosted HTTP/1.1\r\nHost: a" status=500 bytes=1 x="\r\nX-Request-Id: trace-host-1\r\n\r\n',
  );
  expect(statusOf(hostile)).toBe(400);
  const line = await lineOf("trace-host-1");
  expect(line).toContain(
    ' status=400 method=GET path=/hosted host="a\\" status=500 bytes=1 x=\\"" ms=0 ',
  );
  expect(line.match(/ bytes=/g)).toHaveLength(2); // its own, and the quoted one
  // none at all (HTTP/1.0 may leave it out; this proxy asks for it): host=-
  const bare = await rawRequest(
    proxy.url,
    "GET /no-host HTTP/1.0\r\nX-Request-Id: trace-host-2\r\n\r\n",
  );
  expect(statusOf(bare)).toBe(400);
  expect(await lineOf("trace-host-2")).toContain(" path=/no-host host=- ms=0 ");
});

test("a visitor who leaves before the answer is a 499 with the time it waited; the backend is not blamed", async () => {
  const { hostname, port } = new URL(proxy.url);
  const socket = await Bun.connect({ hostname, port: Number(port), socket: { data() {} } });
  socket.write(
    "GET /hang?ms=3000 HTTP/1.1\r\nHost: shop.example\r\nX-Request-Id: trace-gone-1\r\n\r\n",
  );
  await Bun.sleep(300);
  socket.terminate();
  const line = await lineOf("trace-gone-1");
  expect(line).toContain(` status=499 method=GET path=/hang `);
  expect(Number(/ ms=(\S+) /.exec(line)?.[1])).toBeGreaterThanOrEqual(250);
  expect(line).toContain(` backend=${backend} `);
  // the backend stays in the rotation
  expect((await fetch(`${proxy.url}/after`)).status).toBe(200);
});

test("a WebSocket's handshake is logged with its outcome: a backend that does not upgrade is a 502", async () => {
  const answer = await rawRequest(
    proxy.url,
    "GET /live?room=1 HTTP/1.1\r\nHost: shop.example\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nX-Request-Id: trace-ws-1\r\n\r\n",
  );
  expect(statusOf(answer)).toBe(502);
  expect(await lineOf("trace-ws-1")).toMatch(
    new RegExp(
      `^\\S+Z status=502 method=GET path=/live host=shop\\.example ms=\\S+ bytes=\\d+ track=production backend=${backend} `,
    ),
  );
});

test("behind a trusted load balancer, the visitor is the one it names, for answers and refusals alike", async () => {
  const behind = join(fileTempDir("access-behind-"), "access.log");
  const balanced = await startProxy(
    redis,
    "health: { interval: 200ms, timeout: 1s }\nproxy: { workers: 1, trusted_proxies: [127.0.0.0/8] }\n",
    { DROPSHIP_ACCESS_LOG: behind },
  );
  try {
    const headers = { "x-forwarded-for": "198.51.100.7", "x-request-id": "trace-lb-1" };
    expect((await fetch(`${balanced.url}/via-lb`, { headers })).status).toBe(200);
    const refused = await rawRequest(
      balanced.url,
      "TRACE /x HTTP/1.1\r\nHost: shop.example\r\nX-Forwarded-For: 198.51.100.8\r\nX-Request-Id: trace-lb-2\r\n\r\n",
    );
    expect(statusOf(refused)).toBe(405);
    await eventually(
      async () => existsSync(behind) && readFileSync(behind, "utf8").includes("trace-lb-2"),
      5000,
      "both lines",
    );
    const text = readFileSync(behind, "utf8");
    expect(text).toMatch(/ path=\/via-lb .* visitor=198\.51\.100\.7 request_id=trace-lb-1 /);
    expect(text).toMatch(/ status=405 .* visitor=198\.51\.100\.8 request_id=trace-lb-2 /);
  } finally {
    await balanced.stop();
  }
});

test("proxy.access_log.enabled false: no file, whatever DROPSHIP_ACCESS_LOG says", async () => {
  const off = join(fileTempDir("access-off-"), "access.log");
  const quiet = await startProxy(
    redis,
    "health: { interval: 200ms, timeout: 1s }\nproxy: { workers: 1, access_log: { enabled: false } }\n",
    { DROPSHIP_ACCESS_LOG: off },
  );
  try {
    expect((await fetch(`${quiet.url}/x`)).status).toBe(200);
    await Bun.sleep(500);
    expect(existsSync(off)).toBe(false);
  } finally {
    await quiet.stop();
  }
});

test("a log the proxy cannot write costs no request: every request is answered, and it is said once", async () => {
  const full = await startProxy(
    redis,
    "health: { interval: 200ms, timeout: 1s }\nproxy: { workers: 1 }\n",
    { DROPSHIP_ACCESS_LOG: "/dev/full" },
  );
  try {
    const statuses = await Promise.all(
      Array.from({ length: 50 }, (_, n) => fetch(`${full.url}/n/${n}`).then((r) => r.status)),
    );
    expect(new Set(statuses)).toEqual(new Set([200]));
    await eventually(async () => full.stderr().includes("access log /dev/full"), 3000, "the line");
    for (let n = 0; n < 20; n++) await fetch(`${full.url}/more/${n}`);
    await Bun.sleep(500);
    expect(
      full.stderr().match(/access log \/dev\/full: \d+ line\(s\) not written \(ENOSPC/g),
    ).toHaveLength(1);
  } finally {
    await full.stop();
  }
});
