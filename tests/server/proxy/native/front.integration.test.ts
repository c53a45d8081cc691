import { expect, test } from "bun:test";
import type { Socket } from "bun";
import { addBackend, type RunningProxy, startProxy, workersOf } from "../../../helpers/proxy.ts";
import { rawRequest, statusOf } from "../../../helpers/raw.ts";
import { connectTo, startRedis } from "../../../helpers/redis.ts";
import { expectLogged } from "../../../helpers/server.ts";
import { BIG_BODY, startUpstream } from "../../../helpers/upstream.ts";

const redis = await startRedis();
const state = await connectTo(redis);
const upstream = startUpstream("only");
await addBackend(state, "production", upstream.url);
const config = "health: { interval: 200ms, timeout: 1s }\nproxy: { idle_timeout: 2s }\n";
// one process each, so that every request on a port meets the same front
const own = await startProxy(redis, config, { DROPSHIP_PROXY_WORKERS: "1" });
const served = await startProxy(redis, config, {
  DROPSHIP_PROXY_WORKERS: "1",
  DROPSHIP_PROXY_ENGINE: "serve",
});

/** A status line, wherever it is: the answers' bodies do not end in a newline. */
const STATUS_LINE = /HTTP\/1\.1 (\d{3}) /g;

/** A request with a chunked body: the front passes it on to Bun.serve behind. */
const chunked = (method: string, path: string, body: string) =>
  `${method} ${path} HTTP/1.1\r\nHost: site.test\r\nTransfer-Encoding: chunked\r\n\r\n` +
  `${body.length.toString(16)}\r\n${body}\r\n0\r\n\r\n`;

/** A connection whose received bytes can be awaited, and whose close is seen. */
async function connection(port: number) {
  let received = "";
  let closed = false;
  const socket: Socket = await Bun.connect({
    hostname: "127.0.0.1",
    port,
    socket: {
      data(_socket, data) {
        received += data.toString("latin1");
      },
      close() {
        closed = true;
      },
      error() {
        closed = true;
      },
    },
  });
  return {
    socket,
    received: () => received,
    closed: () => closed,
    /** waits until `count` answers' status lines have come, or `ms` has passed */
    async answers(count: number, ms = 5000) {
      const until = performance.now() + ms;
      while (performance.now() < until) {
        if ((received.match(STATUS_LINE)?.length ?? 0) >= count) break;
        await Bun.sleep(10);
      }
      return [...received.matchAll(STATUS_LINE)].map((m) => Number(m[1]));
    },
  };
}

/** What must be the same whichever front answered: status, our fields, the body. */
function essence(answer: string) {
  const [head = "", ...rest] = answer.split("\r\n\r\n");
  const fields = head
    .split("\r\n")
    .slice(1)
    .map((line) => line.toLowerCase())
    .filter((line) =>
      /^(x-dropship-track|x-dropship-backend|content-type|etag|allow|retry-after|content-encoding):/.test(
        line,
      ),
    )
    .sort();
  return { status: statusOf(answer), fields, body: rest.join("\r\n\r\n") };
}

const SAME_EITHER_WAY: [string, string][] = [
  ["a plain GET", "GET /plain?x=1 HTTP/1.1\r\nHost: site.test\r\nConnection: close\r\n\r\n"],
  ["HEAD", "HEAD /plain HTTP/1.1\r\nHost: site.test\r\nConnection: close\r\n\r\n"],
  ["a 304", "GET /not-modified HTTP/1.1\r\nHost: site.test\r\nConnection: close\r\n\r\n"],
  ["a 500 from the app", "GET /fail HTTP/1.1\r\nHost: site.test\r\nConnection: close\r\n\r\n"],
  [
    "a small body",
    "POST /form HTTP/1.1\r\nHost: site.test\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello",
  ],
  [
    "an empty body",
    "PUT /form HTTP/1.1\r\nHost: site.test\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
  ],
  [
    "a small body in HTTP/1.0",
    "POST /form HTTP/1.0\r\nHost: site.test\r\nContent-Length: 2\r\n\r\nhi",
  ],
  [
    "a body, passed on",
    "POST /form HTTP/1.1\r\nHost: site.test\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
  ],
  [
    "the proxy's health",
    "GET /_dropship/healthz HTTP/1.1\r\nHost: site.test\r\nConnection: close\r\n\r\n",
  ],
  ["no Host", "GET / HTTP/1.1\r\nConnection: close\r\n\r\n"],
  ["a bad Host", "GET / HTTP/1.1\r\nHost: a b\r\nConnection: close\r\n\r\n"],
  ["TRACE", "TRACE / HTTP/1.1\r\nHost: site.test\r\nConnection: close\r\n\r\n"],
  [
    "a body on GET",
    "GET / HTTP/1.1\r\nHost: site.test\r\nContent-Length: 2\r\nConnection: close\r\n\r\nhi",
  ],
  [
    "an absolute-form target",
    "GET http://site.test/abs HTTP/1.1\r\nHost: site.test\r\nConnection: close\r\n\r\n",
  ],
  [
    "an https URL in capitals",
    "GET HTTPS://site.test/abs HTTP/1.1\r\nHost: site.test\r\nConnection: close\r\n\r\n",
  ],
  [
    "an unusual method Bun.serve reads",
    "PURGE /cache HTTP/1.1\r\nHost: site.test\r\nConnection: close\r\n\r\n",
  ],
  ["HTTP/1.0", "GET /old HTTP/1.0\r\nHost: site.test\r\n\r\n"],
];

for (const [what, request] of SAME_EITHER_WAY) {
  test(`${what}: the own front answers as Bun.serve alone does`, async () => {
    // every request says Connection: close, so an answer ends at the close; the quiet time
    // only bounds the wait for none, and 150 ms once ended a slow health answer under CI's load
    const [mine, theirs] = await Promise.all([
      rawRequest(own.url, request, { quietMs: 1000 }),
      rawRequest(served.url, request, { quietMs: 1000 }),
    ]);
    expect(mine.length > 0).toBe(theirs.length > 0);
    expect(essence(mine)).toEqual(essence(theirs));
  });
}

// Bun.serve answers these with a bare 505, 400 or 431, or closes without a word
const BAD_LINES: [string, string, number, string][] = [
  ["a bare LF", "GET /lf HTTP/1.1\nHost: site.test\n\n", 400, "ends in a bare LF"],
  ["garbage", "\u0000\u0001\u0002 nothing like HTTP\r\n\r\n", 400, "not three parts"],
  ["a space in the target", "GET /a b HTTP/1.1\r\nHost: site.test\r\n\r\n", 400, "%20"],
  ["a tab for a space", "GET\t/ HTTP/1.1\r\nHost: site.test\r\n\r\n", 400, "not three parts"],
  ["no version", "GET /\r\nHost: site.test\r\n\r\n", 400, "not three parts"],
  ["HTTP/2's preface", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 505, "send HTTP/1.1"],
  ["a lower-case method", "get / HTTP/1.1\r\nHost: site.test\r\n\r\n", 501, "GET, not get"],
  ["an unknown method", "FOO / HTTP/1.1\r\nHost: site.test\r\n\r\n", 501, "method FOO"],
  [
    "a raw 0xFF in the target",
    "GET /\xff HTTP/1.1\r\nHost: site.test\r\n\r\n",
    400,
    "percent-encode",
  ],
  [
    "an asterisk target",
    "OPTIONS * HTTP/1.1\r\nHost: site.test\r\n\r\n",
    400,
    "send OPTIONS / HTTP/1.1",
  ],
  [
    "a bare name for a target",
    "GET index.html HTTP/1.1\r\nHost: site.test\r\n\r\n",
    400,
    "neither a path nor an http(s) URL",
  ],
  [
    "a URL of another scheme",
    "GET ftp://site.test/f HTTP/1.1\r\nHost: site.test\r\n\r\n",
    400,
    "send a path that starts with /",
  ],
  // Bun.serve closes on this one without a word
  ["CONNECT to a query", "CONNECT ?x HTTP/1.1\r\nHost: site.test\r\n\r\n", 400, "not host:port"],
  [
    "a head over 16 KiB",
    `GET / HTTP/1.1\r\nHost: site.test\r\nCookie: ${"c".repeat(20_000)}\r\n\r\n`,
    431,
    "an oversized Cookie is the usual cause",
  ],
];

for (const [what, request, status, says] of BAD_LINES) {
  test(`${what}: the own front answers ${status} with what to send, closes, and the app sees nothing`, async () => {
    const before = upstream.received.length;
    const visitor = await connection(own.port);
    visitor.socket.write(request);
    expect(await visitor.answers(1)).toEqual([status]);
    const until = performance.now() + 2000;
    while (!visitor.closed() && performance.now() < until) await Bun.sleep(10);
    expect(visitor.closed()).toBe(true);
    const answer = visitor.received();
    expect(answer).toContain("connection: close\r\n");
    expect(answer).toContain("content-type: text/plain; charset=utf-8\r\n");
    const body = answer.slice(answer.indexOf("\r\n\r\n") + 4);
    expect(body).toContain(says);
    expect(answer).toContain(`content-length: ${Buffer.byteLength(body)}\r\n`);
    expect(upstream.received.length).toBe(before);
  });
}

// Field faults Bun.serve refuses with a bare 400 or 431: the same status from the own front,
// with a sentence; and odd fields Bun.serve reads, which the own front must not refuse
const POST = "POST /form HTTP/1.1\r\nHost: site.test\r\n";
const BAD_FIELDS: [string, string, string][] = [
  [
    "a folded line",
    "GET / HTTP/1.1\r\nHost: site.test\r\nX-A: 1\r\n folded\r\n\r\n",
    "folded line",
  ],
  [
    "a space before the colon",
    "GET / HTTP/1.1\r\nHost: site.test\r\nX-A : 1\r\n\r\n",
    "before the colon",
  ],
  [
    "a NUL in a value",
    "GET / HTTP/1.1\r\nHost: site.test\r\nX-A: a\u0000b\r\n\r\n",
    "control byte 0x00",
  ],
  ["a bare LF in a field line", "GET / HTTP/1.1\r\nHost: site.test\nX-A: b\r\n\r\n", "bare LF"],
  [
    "199 fields",
    `GET / HTTP/1.1\r\nHost: site.test\r\n${"X: b\r\n".repeat(198)}\r\n`,
    "more than 198 fields",
  ],
  [
    "both framings",
    `${POST}Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`,
    "smuggle",
  ],
  ["gzip, chunked", `${POST}Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n`, "chunked alone"],
  [
    "HTTP/1.0 chunked",
    "POST /form HTTP/1.0\r\nHost: site.test\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    "HTTP/1.0",
  ],
  ["a length of +2", `${POST}Content-Length: +2\r\n\r\nab`, "not a decimal number"],
  ["two lengths that differ", `${POST}Content-Length: 2\r\nContent-Length: 02\r\n\r\nab`, "differ"],
];

for (const [what, request, says] of BAD_FIELDS) {
  test(`${what}: the own front refuses it as Bun.serve does, saying why`, async () => {
    const before = upstream.received.length;
    const [mine, theirs] = await Promise.all([
      rawRequest(own.url, request, { quietMs: 1000 }),
      rawRequest(served.url, request, { quietMs: 1000 }),
    ]);
    expect(statusOf(theirs)).toBeGreaterThanOrEqual(400);
    expect(statusOf(mine)).toBe(statusOf(theirs));
    expect(mine).toContain("connection: close\r\n");
    expect(mine.slice(mine.indexOf("\r\n\r\n") + 4)).toContain(says);
    expect(upstream.received.length).toBe(before);
  });
}

const ODD_BUT_READ: [string, string][] = [
  [
    "DEL and obs-text in values",
    "GET /odd HTTP/1.1\r\nHost: site.test\r\nX-A: a\u007fb\r\nX-B: caf\u00e9\r\n",
  ],
  ["Chunked in capitals", `${POST}Transfer-Encoding: Chunked \r\n\r\n2\r\nab\r\n0\r\n`],
  ["a padded length", `${POST}Content-Length:   02  \r\n\r\nab`],
  ["the same length twice", `${POST}Content-Length: 2\r\nCONTENT-LENGTH: 2\r\n\r\nab`],
  ["150 fields", `GET /many HTTP/1.1\r\nHost: site.test\r\n${"X: b\r\n".repeat(149)}`],
];

for (const [what, head] of ODD_BUT_READ) {
  test(`${what}: read by both fronts alike, never refused by the own front`, async () => {
    const request = head.includes("\r\n\r\n")
      ? head.replace("\r\n\r\n", "\r\nConnection: close\r\n\r\n")
      : `${head}Connection: close\r\n\r\n`;
    const [mine, theirs] = await Promise.all([
      rawRequest(own.url, request.endsWith("0\r\n") ? `${request}\r\n` : request, {
        quietMs: 1000,
      }),
      rawRequest(served.url, request.endsWith("0\r\n") ? `${request}\r\n` : request, {
        quietMs: 1000,
      }),
    ]);
    expect(statusOf(theirs)).toBe(200);
    expect(statusOf(mine)).toBe(200);
  });
}

test("a bad line after a good request on the connection: the first is answered, then the 501", async () => {
  const visitor = await connection(own.port);
  visitor.socket.write(
    "GET /before HTTP/1.1\r\nHost: site.test\r\n\r\nget /after HTTP/1.1\r\nHost: site.test\r\n\r\n",
  );
  expect(await visitor.answers(2)).toEqual([200, 501]);
  expect(visitor.received()).toContain("only GET /before");
  expect(upstream.received.some((r) => r.path === "/after")).toBe(false);
});

test("the app receives the same fields whichever front read the request, odd ones included", async () => {
  const fields =
    "Host: Site.Test\r\nUSER-AGENT:  raw\t \r\nConnection: keep-alive, X-Hop\r\nX-Hop: secret\r\n" +
    "Keep-Alive: timeout=5\r\nTE: trailers\r\nAuthorization: Bearer test-admin-token-0123456789\r\n" +
    "X-Request-Id: ../../etc\r\nX-Dropship-Track: staging\r\nX-Dropship-Client: forged\r\n" +
    "X-Forwarded-For: 10.0.0.1\r\nX-Forwarded-Proto: https\r\nX-Forwarded-Host: bank.example\r\n" +
    "Accept: a\r\naccept: b\r\nCookie: session=1; dropship_track=production\r\nX-Empty:\r\n";
  const seen = async (url: string, path: string) => {
    const answer = await rawRequest(
      url,
      `GET ${path} HTTP/1.1\r\n${fields}Connection: close\r\n\r\n`,
      {
        quietMs: 1000,
      },
    );
    expect(statusOf(answer)).toBe(200);
    const got = upstream.received.findLast((r) => r.path === path);
    if (!got) throw new Error(`the app received no ${path}`);
    // the ids are new for each request: there must be one, whatever it is
    const { "x-request-id": id, "x-dropship-client": client, ...rest } = got.headers;
    expect(id).toMatch(/^[\w-]{36}$/);
    expect(client).toMatch(/^[\w-]{36}$/);
    return rest;
  };
  const mine = await seen(own.url, "/fields/own");
  const theirs = await seen(served.url, "/fields/served");
  expect(mine).toEqual(theirs);
  expect(mine.authorization).toBeUndefined();
  expect(mine["x-hop"]).toBeUndefined();
  expect(mine["x-forwarded-for"]).toBe("127.0.0.1");
  expect(mine["x-forwarded-host"]).toBe("Site.Test");
  expect(mine["x-dropship-track"]).toBe("production");
  expect(mine["user-agent"]).toBe("raw");
  expect(mine.accept).toBe("a, b");
});

test("a chunked answer and a 1 MiB one arrive whole, on one kept-alive connection", async () => {
  const visitor = await connection(own.port);
  visitor.socket.write("GET /chunked HTTP/1.1\r\nHost: site.test\r\n\r\n");
  expect(await visitor.answers(1)).toEqual([200]);
  await Bun.sleep(300);
  const chunked = visitor.received();
  expect(chunked).toContain("transfer-encoding: chunked\r\n");
  expect(chunked.endsWith("0\r\n\r\n")).toBe(true);
  for (let i = 0; i < 5; i++) expect(chunked).toContain(`chunk ${i}\n`);
  visitor.socket.write("GET /big HTTP/1.1\r\nHost: site.test\r\n\r\n");
  expect(await visitor.answers(2)).toEqual([200, 200]);
  const until = performance.now() + 5000;
  while (!visitor.received().endsWith(Buffer.from(BIG_BODY.subarray(-64)).toString("latin1"))) {
    if (performance.now() > until) throw new Error("the 1 MiB answer did not end");
    await Bun.sleep(20);
  }
  const big = visitor.received().slice(chunked.length);
  const [head = "", body = ""] = [
    big.slice(0, big.indexOf("\r\n\r\n")),
    big.slice(big.indexOf("\r\n\r\n") + 4),
  ];
  expect(head).toContain(`content-length: ${BIG_BODY.length}`);
  expect(Buffer.from(body, "latin1").equals(Buffer.from(BIG_BODY))).toBe(true);
  expect(visitor.closed()).toBe(false);
  visitor.socket.end();
});

test("pipelined requests are answered in order; a chunked body then passes the connection to Bun.serve", async () => {
  const visitor = await connection(own.port);
  visitor.socket.write(
    "GET /p1 HTTP/1.1\r\nHost: site.test\r\n\r\n" +
      "HEAD /p2 HTTP/1.1\r\nHost: site.test\r\n\r\n" +
      "GET /p3 HTTP/1.1\r\nHost: site.test\r\n\r\n",
  );
  expect(await visitor.answers(3)).toEqual([200, 200, 200]);
  // a chunked body passes the connection to Bun.serve, and what is pipelined behind it is answered
  // there, in order: a POST, a slow GET, a chunked PUT, a GET, in one write
  visitor.socket.write(
    chunked("POST", "/p4", "body") +
      "GET /slow?ms=300 HTTP/1.1\r\nHost: site.test\r\n\r\n" +
      "PUT /p6 HTTP/1.1\r\nHost: site.test\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n" +
      "GET /p7 HTTP/1.1\r\nHost: site.test\r\n\r\n",
  );
  expect(await visitor.answers(7)).toEqual([200, 200, 200, 200, 200, 200, 200]);
  expect(visitor.closed()).toBe(false);
  visitor.socket.write("GET /p8 HTTP/1.1\r\nHost: site.test\r\n\r\n");
  expect(await visitor.answers(8)).toEqual([200, 200, 200, 200, 200, 200, 200, 200]);
  await Bun.sleep(100);
  const bodies = visitor.received().match(/(only|slow) (\w+ \/p\d|only)/g);
  // HEAD's answer has no body
  expect(bodies).toEqual([
    "only GET /p1",
    "only GET /p3",
    "only POST /p4",
    "slow only",
    "only PUT /p6",
    "only GET /p7",
    "only GET /p8",
  ]);
  expect(upstream.received.find((r) => r.path === "/p4")?.bodyBytes).toBe(4);
  expect(upstream.received.find((r) => r.path === "/p6")?.bodyBytes).toBe(5);
  visitor.socket.end();
});

test("a POST answered with a redirect and no body, a GET pipelined behind it: both answered, in order", async () => {
  const visitor = await connection(own.port);
  visitor.socket.write(
    chunked("POST", "/see-other", "body") +
      "GET /after-redirect HTTP/1.1\r\nHost: site.test\r\n\r\n",
  );
  expect(await visitor.answers(2)).toEqual([303, 200]);
  expect(visitor.received()).toContain("only GET /after-redirect");
  visitor.socket.end();
});

test("a passed request answered before its body is all in: the rest of the body and the request behind it go on", async () => {
  const visitor = await connection(own.port);
  // the proxy's own paths answer 404 on the public listener without reading a body
  visitor.socket.write(
    "POST /_dropship/none HTTP/1.1\r\nHost: site.test\r\nContent-Length: 5\r\n\r\n",
  );
  expect(await visitor.answers(1)).toEqual([404]);
  visitor.socket.write("helloGET /after HTTP/1.1\r\nHost: site.test\r\n\r\n");
  expect(await visitor.answers(2)).toEqual([404, 200]);
  expect(visitor.received()).toContain("only GET /after");
  visitor.socket.end();
});

test("a pipeline behind a passed request held past its limit is read again as answers go, and costs another visitor nothing", async () => {
  const visitor = await connection(own.port);
  // a slow POST, then 2000 GETs behind it (about 80 KiB, past the 64 KiB the front holds)
  const gets = Array.from(
    { length: 2000 },
    (_, i) => `GET /q${i} HTTP/1.1\r\nHost: site.test\r\n\r\n`,
  ).join("");
  visitor.socket.write(`${chunked("POST", "/slow?ms=500", "x")}${gets}`);
  // meanwhile another visitor is answered at once
  const other = await connection(own.port);
  other.socket.write("GET /other HTTP/1.1\r\nHost: site.test\r\nConnection: close\r\n\r\n");
  expect(await other.answers(1, 400)).toEqual([200]);
  const statuses = await visitor.answers(2001, 25_000);
  expect(statuses).toHaveLength(2001);
  expect(statuses.every((status) => status === 200)).toBe(true);
  const order: string[] = visitor.received().match(/only GET \/q\d+/g) ?? [];
  expect(order).toEqual(Array.from({ length: 2000 }, (_, i) => `only GET /q${i}`));
  visitor.socket.end();
});

/**
 * The connections the proxy's front holds open to the Bun.serve listener behind it, by ss: the
 * front's end of each, by its port.
 */
function innerConnections(proxy: RunningProxy): string[] {
  const pids = [proxy.pid, ...workersOf(proxy.pid)];
  const adminPort = Number(new URL(proxy.adminUrl).port);
  const behind = Bun.spawnSync(["ss", "-tlnpH"])
    .stdout.toString()
    .split("\n")
    .filter((line) => pids.some((pid) => line.includes(`pid=${pid},`)))
    .map((line) => Number(/127\.0\.0\.1:(\d+) /.exec(line)?.[1]))
    .filter((port) => port && port !== proxy.port && port !== adminPort);
  expect(behind).toHaveLength(1);
  const out = Bun.spawnSync(["ss", "-tnH", "state", "established", `( dport = :${behind[0]} )`]);
  return [...out.stdout.toString().matchAll(/127\.0\.0\.1:(\d+) +127\.0\.0\.1:\d+/g)]
    .map((m) => m[1] as string)
    .sort();
}

/** Waits until `count()` is `want`, or `ms` has passed; what it was last. */
async function settles(count: () => number, want: number, ms = 3000): Promise<number> {
  const until = performance.now() + ms;
  let now = count();
  while (now !== want && performance.now() < until) {
    await Bun.sleep(50);
    now = count();
  }
  return now;
}

// Bun.serve writes its fields capitalized, the own front in lower case
const byFront = (answer: string) => (answer.includes("\r\ncontent-length:") ? "own" : "passed");

test("a request of the front's own after a passed one takes the connection back; the next passed one reuses the connection behind; none is left", async () => {
  // an idle timeout long enough for the connection behind to be used again (Bun.serve may close
  // it up to 4 s early, and the front lets go of one parked near that)
  const patient = await startProxy(redis, "proxy: { idle_timeout: 12s }\n", {
    DROPSHIP_PROXY_WORKERS: "1",
  });
  try {
    const behind = () => innerConnections(patient).length;
    const visitor = await connection(patient.port);
    visitor.socket.write(chunked("POST", "/t1", "hi"));
    expect(await visitor.answers(1)).toEqual([200]);
    expect(await settles(behind, 1)).toBe(1);
    const first = innerConnections(patient);
    // the GET after it is the front's again (it was Bun.serve's, and cost twice as much)
    visitor.socket.write("GET /t2 HTTP/1.1\r\nHost: site.test\r\n\r\n");
    expect(await visitor.answers(2)).toEqual([200, 200]);
    // a POST, a GET and a PUT and a GET pipelined: each where it belongs, in order, the passed
    // ones on the one connection behind, kept while the front answered
    visitor.socket.write(
      chunked("POST", "/t3", "x") +
        "GET /slow?ms=200 HTTP/1.1\r\nHost: site.test\r\n\r\n" +
        chunked("PUT", "/t5", "y") +
        "GET /t6 HTTP/1.1\r\nHost: site.test\r\n\r\n",
    );
    expect(await visitor.answers(6)).toEqual([200, 200, 200, 200, 200, 200]);
    await Bun.sleep(50);
    expect(visitor.received().match(/(only|slow) (\w+ \/t\d|only)/g)).toEqual([
      "only POST /t1",
      "only GET /t2",
      "only POST /t3",
      "slow only",
      "only PUT /t5",
      "only GET /t6",
    ]);
    const answers = visitor.received().split(/(?=HTTP\/1\.1 )/);
    expect(answers.map(byFront)).toEqual(["passed", "own", "passed", "own", "passed", "own"]);
    expect(innerConnections(patient)).toEqual(first);
    expect(visitor.closed()).toBe(false);
    // the visitor leaves: the connection behind goes with them
    visitor.socket.end();
    expect(await settles(behind, 0)).toBe(0);
  } finally {
    await patient.stop();
  }
}, 15_000);

test("a connection behind that its listener closes while the front answers costs the visitor nothing: the next passed request gets a new one", async () => {
  const behind = () => innerConnections(own).length;
  const before = behind();
  const visitor = await connection(own.port);
  visitor.socket.write(chunked("POST", "/u1", "hi"));
  expect(await visitor.answers(1)).toEqual([200]);
  expect(await settles(behind, before + 1)).toBe(before + 1);
  // GETs, each within the idle timeout (2 s), while Bun.serve closes the idle connection
  // behind after its own (its timers tick every 4 s)
  let asked = 1;
  const until = performance.now() + 9000;
  while (behind() > before && performance.now() < until) {
    visitor.socket.write(`GET /u${++asked} HTTP/1.1\r\nHost: site.test\r\n\r\n`);
    expect((await visitor.answers(asked)).length).toBe(asked);
    await Bun.sleep(500);
  }
  expect(behind()).toBe(before);
  expect(visitor.closed()).toBe(false);
  visitor.socket.write(chunked("POST", "/u-last", "hi"));
  const statuses = await visitor.answers(asked + 1);
  expect(statuses).toEqual(Array.from({ length: asked + 1 }, () => 200));
  expect(visitor.received()).toEndWith("only POST /u-last");
  expect(
    byFront(
      visitor
        .received()
        .split(/(?=HTTP\/1\.1 )/)
        .at(-1) as string,
    ),
  ).toBe("passed");
  visitor.socket.end();
}, 20_000);

/** What the test backend recorded of the request to `path`. */
const receivedAt = (path: string) => upstream.received.find((r) => r.path === path);
const sha256 = (text: string) => new Bun.CryptoHasher("sha256").update(text).digest("hex");

test("small bodies are the front's: a form POST, an empty PUT, a DELETE with a body, pipelined among GETs, each body whole at the backend with its length, in order, on one connection", async () => {
  const form = "item=42&quantity=1&note=caf%C3%A9";
  const big = "x".repeat(16 * 1024);
  const visitor = await connection(own.port);
  visitor.socket.write(
    `POST /b1 HTTP/1.1\r\nHost: site.test\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: ${form.length}\r\n\r\n${form}` +
      "GET /b2 HTTP/1.1\r\nHost: site.test\r\n\r\n" +
      "PUT /b3 HTTP/1.1\r\nHost: site.test\r\nContent-Length: 0\r\n\r\n" +
      `DELETE /b4 HTTP/1.1\r\nHost: site.test\r\nContent-Length: ${big.length}\r\n\r\n${big}` +
      "GET /b5 HTTP/1.1\r\nHost: site.test\r\n\r\n",
  );
  expect(await visitor.answers(5)).toEqual([200, 200, 200, 200, 200]);
  await Bun.sleep(50);
  const answers = visitor.received().split(/(?=HTTP\/1\.1 )/);
  expect(answers.map(byFront)).toEqual(["own", "own", "own", "own", "own"]);
  expect(visitor.received().match(/only \w+ \/b\d/g)).toEqual([
    "only POST /b1",
    "only GET /b2",
    "only PUT /b3",
    "only DELETE /b4",
    "only GET /b5",
  ]);
  const posted = receivedAt("/b1");
  expect([posted?.bodyBytes, posted?.bodySha]).toEqual([form.length, sha256(form)]);
  expect(posted?.headers["content-length"]).toBe(String(form.length));
  expect(posted?.headers["content-type"]).toBe("application/x-www-form-urlencoded");
  expect(receivedAt("/b3")?.bodyBytes).toBe(0);
  expect([receivedAt("/b4")?.bodyBytes, receivedAt("/b4")?.bodySha]).toEqual([
    big.length,
    sha256(big),
  ]);
  expect(visitor.closed()).toBe(false);
  visitor.socket.end();
});

test("a small body sent apart from its head is waited for a moment and answered by the front; one that stalls past that goes to Bun.serve, which takes the rest", async () => {
  const visitor = await connection(own.port);
  const head = (path: string) =>
    `POST ${path} HTTP/1.1\r\nHost: site.test\r\nContent-Length: 10\r\n\r\n`;
  // as a client that writes the head and then the body does
  visitor.socket.write(head("/apart"));
  await Bun.sleep(20);
  visitor.socket.write("hello");
  await Bun.sleep(20);
  visitor.socket.write("world");
  expect(await visitor.answers(1)).toEqual([200]);
  expect(byFront(visitor.received())).toBe("own");
  expect(receivedAt("/apart")?.bodySha).toBe(sha256("helloworld"));
  // the rest a second later: Bun.serve behind reads it, as it reads any slow body
  visitor.socket.write(`${head("/stalled")}hello`);
  await Bun.sleep(1000);
  expect(receivedAt("/stalled")).toBeUndefined();
  visitor.socket.write("world");
  expect(await visitor.answers(2)).toEqual([200, 200]);
  expect(byFront(visitor.received().split(/(?=HTTP\/1\.1 )/)[1] as string)).toBe("passed");
  expect(receivedAt("/stalled")?.bodySha).toBe(sha256("helloworld"));
  // and the GET after it is the front's again
  visitor.socket.write("GET /after-stall HTTP/1.1\r\nHost: site.test\r\n\r\n");
  expect(await visitor.answers(3)).toEqual([200, 200, 200]);
  expect(byFront(visitor.received().split(/(?=HTTP\/1\.1 )/)[2] as string)).toBe("own");
  visitor.socket.end();
});

test("a visitor who leaves before their small body is all sent: nothing reaches the backend, and the next visitor is answered", async () => {
  const visitor = await connection(own.port);
  visitor.socket.write("POST /left HTTP/1.1\r\nHost: site.test\r\nContent-Length: 10\r\n\r\nhalf");
  await Bun.sleep(50);
  visitor.socket.end();
  // past the front's wait for the body
  await Bun.sleep(400);
  expect(receivedAt("/left")).toBeUndefined();
  const next = await connection(own.port);
  next.socket.write(
    "POST /next HTTP/1.1\r\nHost: site.test\r\nContent-Length: 4\r\nConnection: close\r\n\r\nnext",
  );
  expect(await next.answers(1)).toEqual([200]);
  expect(receivedAt("/next")?.bodyBytes).toBe(4);
});

test("a body longer than its Content-Length: the rest is read as the next request, and refused with the connection closed; the backend gets exactly the length", async () => {
  const visitor = await connection(own.port);
  visitor.socket.write(
    "POST /over HTTP/1.1\r\nHost: site.test\r\nContent-Length: 3\r\n\r\nabcGET /smuggled HTTP/1.1\r\nHost: site.test\r\nX: \u0000\r\n\r\n",
  );
  expect(await visitor.answers(2)).toEqual([200, 400]);
  expect(receivedAt("/over")?.bodySha).toBe(sha256("abc"));
  expect(receivedAt("/smuggled")).toBeUndefined();
  const until = performance.now() + 2000;
  while (!visitor.closed() && performance.now() < until) await Bun.sleep(20);
  expect(visitor.closed()).toBe(true);
});

test("a small POST after a passed request takes the connection back, body and all", async () => {
  const visitor = await connection(own.port);
  visitor.socket.write(
    `${chunked("POST", "/c1", "first")}POST /c2 HTTP/1.1\r\nHost: site.test\r\nContent-Length: 6\r\n\r\nsecond`,
  );
  expect(await visitor.answers(2)).toEqual([200, 200]);
  await Bun.sleep(50);
  const answers = visitor.received().split(/(?=HTTP\/1\.1 )/);
  expect(answers.map(byFront)).toEqual(["passed", "own"]);
  expect(receivedAt("/c1")?.bodySha).toBe(sha256("first"));
  expect(receivedAt("/c2")?.bodySha).toBe(sha256("second"));
  visitor.socket.end();
});

test("HTTP/1.0: a connection that asks to be kept is kept, and says so; a stream of no length goes as it comes, then the connection closes", async () => {
  // as ApacheBench's -k asks: Bun.serve closed each after its answer
  const kept = await connection(own.port);
  kept.socket.write("GET /old1 HTTP/1.0\r\nHost: site.test\r\nConnection: Keep-Alive\r\n\r\n");
  expect(await kept.answers(1)).toEqual([200]);
  await Bun.sleep(100);
  expect(kept.closed()).toBe(false);
  kept.socket.write("HEAD /old2 HTTP/1.0\r\nHost: site.test\r\nConnection: keep-alive\r\n\r\n");
  kept.socket.write("GET /chunked HTTP/1.0\r\nHost: site.test\r\nConnection: keep-alive\r\n\r\n");
  expect(await kept.answers(3)).toEqual([200, 200, 200]);
  const until = performance.now() + 3000;
  while (!kept.closed() && performance.now() < until) await Bun.sleep(20);
  expect(kept.closed()).toBe(true);
  const [first, second, third] = kept.received().split(/(?=HTTP\/1\.1 )/) as [
    string,
    string,
    string,
  ];
  expect(first).toContain("\r\nconnection: keep-alive\r\n");
  expect(first).toEndWith("only GET /old1");
  expect(second).toContain("\r\nconnection: keep-alive\r\n");
  // a 1.0 visitor cannot read chunks: the stream as it came, ended by the close
  expect(third).not.toContain("transfer-encoding");
  expect(third).toContain("\r\nconnection: close\r\n");
  expect(third).toEndWith("\r\n\r\nchunk 0\nchunk 1\nchunk 2\nchunk 3\nchunk 4\n");
  // one that does not ask is closed after its answer
  const plain = await connection(own.port);
  plain.socket.write("GET /old3 HTTP/1.0\r\nHost: site.test\r\n\r\n");
  expect(await plain.answers(1)).toEqual([200]);
  const closedBy = performance.now() + 3000;
  while (!plain.closed() && performance.now() < closedBy) await Bun.sleep(20);
  expect(plain.closed()).toBe(true);
  expect(plain.received()).not.toContain("keep-alive");
});

test("a head sent a byte at a time is answered; so is the next one on the connection", async () => {
  const visitor = await connection(own.port);
  for (const byte of "GET /slowly HTTP/1.1\r\nHost: site.test\r\n\r\n") {
    visitor.socket.write(byte);
    await Bun.sleep(2);
  }
  expect(await visitor.answers(1)).toEqual([200]);
  visitor.socket.write("GET /after HTTP/1.1\r\nHost: site.test\r\n\r\n");
  expect(await visitor.answers(2)).toEqual([200, 200]);
  expect(visitor.received()).toContain("only GET /after");
  visitor.socket.end();
});

test("Connection: close is answered with Connection: close, and the connection ends", async () => {
  const visitor = await connection(own.port);
  visitor.socket.write("GET /bye HTTP/1.1\r\nHost: site.test\r\nConnection: close\r\n\r\n");
  expect(await visitor.answers(1)).toEqual([200]);
  const until = performance.now() + 2000;
  while (!visitor.closed() && performance.now() < until) await Bun.sleep(10);
  expect(visitor.closed()).toBe(true);
  expect(visitor.received().toLowerCase()).toContain("connection: close\r\n");
});

test("an idle connection is closed after idle_timeout; one mid-head too", async () => {
  const idle = await connection(own.port);
  const partial = await connection(own.port);
  partial.socket.write("GET /never-finished HTTP/1.1\r\nHost: site");
  // 2 s, on Bun's socket timer that ticks every 4 s: closed within 2–6 s
  const until = performance.now() + 8000;
  while (!(idle.closed() && partial.closed()) && performance.now() < until) await Bun.sleep(50);
  expect(idle.closed()).toBe(true);
  expect(partial.closed()).toBe(true);
  expect(upstream.received.some((r) => r.path === "/never-finished")).toBe(false);
});

test("no connection is cut before idle_timeout, wherever it opens in the timer's 4 s tick", async () => {
  // Bun's socket timer fires up to 4 s early (a 2 s timeout set just before its tick fired
  // after 76 ms): 16 silent connections opened 250 ms apart, across a whole tick, each live
  // the 2 s of idle_timeout at least, and are closed by it
  const lifetimes = await Promise.all(
    Array.from({ length: 16 }, async (_, i) => {
      await Bun.sleep(i * 250);
      const opened = performance.now();
      const visitor = await connection(own.port);
      while (!visitor.closed() && performance.now() < opened + 10_000) await Bun.sleep(10);
      return visitor.closed() ? performance.now() - opened : Number.POSITIVE_INFINITY;
    }),
  );
  expect(lifetimes.filter((ms) => ms < 2000)).toEqual([]);
  expect(lifetimes.filter((ms) => ms > 7000)).toEqual([]);
}, 20_000);

test("a visitor who never reads a pipeline of big answers costs another visitor nothing", async () => {
  const bigsBefore = upstream.received.filter((r) => r.path === "/big").length;
  const hog = await connection(own.port);
  hog.socket.pause();
  hog.socket.write("GET /big HTTP/1.1\r\nHost: site.test\r\n\r\n".repeat(200));
  await Bun.sleep(1000);
  const started = performance.now();
  for (let i = 0; i < 20; i++) {
    const response = await fetch(`${own.url}/other-${i}`);
    expect(response.status).toBe(200);
    expect(await response.text()).toBe(`only GET /other-${i}`);
  }
  expect(performance.now() - started).toBeLessThan(5000);
  // an answer is taken only once the one before is in the kernel's hands: what the proxy holds
  // for a visitor who does not read is one answer, not the 200 MiB they asked for
  const bigs = upstream.received.filter((r) => r.path === "/big").length - bigsBefore;
  expect(bigs).toBeLessThan(10);
  // and once idle_timeout (2 s here) passes without them reading a byte, they are cut off
  const until = performance.now() + 8000;
  while (!hog.closed() && performance.now() < until) await Bun.sleep(50);
  expect(hog.closed()).toBe(true);
});

test("a visitor who leaves a slow request cancels it upstream, and the front goes on", async () => {
  const before = upstream.cancelled;
  const visitor = await connection(own.port);
  visitor.socket.write("GET /hang?ms=3000 HTTP/1.1\r\nHost: site.test\r\n\r\n");
  await Bun.sleep(300);
  visitor.socket.terminate();
  const until = performance.now() + 2500;
  while (upstream.cancelled === before && performance.now() < until) await Bun.sleep(20);
  expect(upstream.cancelled).toBe(before + 1);
  expect((await fetch(`${own.url}/still`)).status).toBe(200);
  await expectLogged(() => own.stderr(), /499 GET \/hang\?ms=3000/);
});

test("on SIGTERM an answer in flight is finished, with Connection: close", async () => {
  const single = await startProxy(redis, config, { DROPSHIP_PROXY_WORKERS: "1" });
  const visitor = await connection(single.port);
  visitor.socket.write("GET /slow?ms=600 HTTP/1.1\r\nHost: site.test\r\n\r\n");
  await Bun.sleep(200);
  const exited = single.stop();
  expect(await visitor.answers(1, 3000)).toEqual([200]);
  await Bun.sleep(50);
  expect(visitor.received()).toContain("slow only");
  expect(visitor.received().toLowerCase()).toContain("connection: close\r\n");
  expect(await exited).toBe(0);
});

// A chunked body passes the connection to Bun.serve behind the front (or Bun.serve holds the port): an
// upgrade's handover stops the old proxy while its clients' kept-alive connections sit idle
// between requests. Closed at once, a POST its client sends then is lost (a reset); answered,
// with Connection: close, the client's next request goes to the new proxy.
for (const engine of ["own", "serve"] as const) {
  test(`on SIGTERM a kept-alive connection Bun.serve holds (${engine}) has its next request answered, with Connection: close`, async () => {
    const single = await startProxy(redis, config, {
      DROPSHIP_PROXY_WORKERS: "1",
      ...(engine === "serve" ? { DROPSHIP_PROXY_ENGINE: "serve" } : {}),
    });
    const visitor = await connection(single.port);
    const post = chunked("POST", "/form", "hello");
    visitor.socket.write(post);
    expect(await visitor.answers(1)).toEqual([200]);
    // past the front's wait for connections it has just passed on
    await Bun.sleep(1200);
    const exited = single.stop();
    await Bun.sleep(100);
    visitor.socket.write(post);
    expect(await visitor.answers(2, 3000)).toEqual([200, 200]);
    const second = visitor.received().slice(visitor.received().lastIndexOf("HTTP/1.1 "));
    expect(second.toLowerCase()).toContain("connection: close\r\n");
    expect(await exited).toBe(0);
    expect(visitor.closed()).toBe(true);
  });
}

test("a visitor who leaves a quiet event stream closes its backend connection at once", async () => {
  // a backend of raw bytes: one event, then silence; it notes when the proxy hangs up
  let hungUp = 0;
  const backend = Bun.listen<{ events: boolean }>({
    hostname: "127.0.0.1",
    port: 0,
    socket: {
      open(socket) {
        socket.data = { events: false };
      },
      data(socket, bytes) {
        const text = bytes.toString();
        if (text.startsWith("GET /healthz")) {
          socket.write("HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok");
          return;
        }
        socket.data.events = true;
        socket.write(
          "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n" +
            "d\r\ndata: first\n\n\r\n",
        );
      },
      close(socket) {
        if (socket.data.events) hungUp = performance.now();
      },
    },
  });
  const otherRedis = await startRedis();
  await addBackend(await connectTo(otherRedis), "production", `http://127.0.0.1:${backend.port}`);
  const streaming = await startProxy(otherRedis, config, { DROPSHIP_PROXY_WORKERS: "1" });
  const visitor = await connection(streaming.port);
  visitor.socket.write("GET /events HTTP/1.1\r\nHost: site.test\r\n\r\n");
  const until = performance.now() + 3000;
  while (!visitor.received().includes("data: first") && performance.now() < until) {
    await Bun.sleep(10);
  }
  expect(visitor.received()).toContain("data: first");
  const left = performance.now();
  visitor.socket.terminate();
  while (hungUp === 0 && performance.now() < left + 2000) await Bun.sleep(10);
  expect(hungUp).toBeGreaterThan(0);
  expect(hungUp - left).toBeLessThan(1000);
  backend.stop(true);
});
