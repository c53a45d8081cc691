import { expect, test } from "bun:test";
import {
  cookieValue,
  isIdempotent,
  ourFields,
  requestIdOf,
  type UpstreamHead,
  upstreamHead,
  upstreamHeaders,
  visitorAddress,
} from "../../../server/proxy/headers.ts";
import { readRequestHead } from "../../../server/proxy/native/request-head.ts";
import { requestHead } from "../../../server/proxy/upstream/client.ts";
import { isHeadError, parseHead } from "../../../server/proxy/upstream/head.ts";

const context = {
  peer: "203.0.113.9",
  peerTrusted: false,
  forwardHost: true,
  requestId: "req-1",
  clientId: "c1",
  track: "staging",
  isAdminCredential: (authorization: string) => authorization === "Bearer admin-token",
};
const trusted = { ...context, peer: "10.0.0.2", peerTrusted: true };

test("hop-by-hop fields, and those Connection names, do not reach the upstream", () => {
  const incoming = new Headers({
    connection: "keep-alive, X-Secret-Hop",
    "keep-alive": "timeout=5",
    "x-secret-hop": "1",
    te: "trailers",
    "proxy-authorization": "Basic abc",
    upgrade: "h2c",
    expect: "100-continue",
    host: "shop.example",
    accept: "text/html",
  });
  const out = upstreamHeaders(incoming, context);
  for (const name of [
    "connection",
    "keep-alive",
    "x-secret-hop",
    "te",
    "proxy-authorization",
    "upgrade",
    "expect",
  ]) {
    expect(out.has(name)).toBe(false);
  }
  expect(out.get("accept")).toBe("text/html");
  expect(out.get("host")).toBe("shop.example");
  expect(out.get("x-forwarded-host")).toBe("shop.example");
  expect(out.get("x-forwarded-proto")).toBe("http");
  expect(out.get("x-forwarded-for")).toBe("203.0.113.9");
  expect(out.get("x-request-id")).toBe("req-1");
  expect(out.get("x-dropship-track")).toBe("staging");
});

test("forwarding fields from an untrusted peer are replaced by what the proxy saw", () => {
  const claimed = new Headers({
    host: "shop.example",
    "x-forwarded-for": "198.51.100.1",
    "x-forwarded-proto": "https",
    "x-forwarded-host": "bank.example",
  });
  const out = upstreamHeaders(claimed, context);
  expect(out.get("x-forwarded-for")).toBe("203.0.113.9");
  expect(out.get("x-forwarded-proto")).toBe("http");
  expect(out.get("x-forwarded-host")).toBe("shop.example");
});

test("from a trusted peer (a load balancer) X-Forwarded-For is appended to, -Proto and -Host kept", () => {
  const fromBalancer = new Headers({
    host: "shop.example",
    "x-forwarded-for": "198.51.100.1",
    "x-forwarded-proto": "https",
    "x-forwarded-host": "www.shop.example",
  });
  const out = upstreamHeaders(fromBalancer, trusted);
  expect(out.get("x-forwarded-for")).toBe("198.51.100.1, 10.0.0.2");
  expect(out.get("x-forwarded-proto")).toBe("https");
  expect(out.get("x-forwarded-host")).toBe("www.shop.example");
  const bare = upstreamHeaders(new Headers({ host: "shop.example" }), trusted);
  expect(bare.get("x-forwarded-for")).toBe("10.0.0.2");
  expect(bare.get("x-forwarded-proto")).toBe("http");
  expect(bare.get("x-forwarded-host")).toBe("shop.example");
});

test("forward_host: false leaves Host to the client library (the backend's address)", () => {
  const out = upstreamHeaders(new Headers({ host: "shop.example" }), {
    ...context,
    forwardHost: false,
  });
  expect(out.has("host")).toBe(false);
  expect(out.get("x-forwarded-host")).toBe("shop.example");
});

test("the admin token never reaches a backend; the app's own credentials do", () => {
  const admin = upstreamHeaders(new Headers({ authorization: "Bearer admin-token" }), context);
  expect(admin.has("authorization")).toBe(false);
  const own = upstreamHeaders(new Headers({ authorization: "Bearer user-42" }), context);
  expect(own.get("authorization")).toBe("Bearer user-42");
});

test("the visitor is the peer, or behind trusted proxies the right-most untrusted hop", () => {
  const isTrusted = (address: string) => address.startsWith("10.");
  expect(visitorAddress("203.0.113.9", "1.2.3.4", isTrusted)).toBe("203.0.113.9");
  expect(visitorAddress("10.0.0.2", "1.2.3.4, 198.51.100.7", isTrusted)).toBe("198.51.100.7");
  expect(visitorAddress("10.0.0.2", "198.51.100.7, 10.0.0.9", isTrusted)).toBe("198.51.100.7");
  expect(visitorAddress("10.0.0.2", null, isTrusted)).toBe("10.0.0.2");
  expect(visitorAddress("10.0.0.2", "10.0.0.3", isTrusted)).toBe("10.0.0.2");
});

test("the client gets the upstream's fields, repeated cookies intact, plus track and backend", () => {
  const passed = parseHead(
    Buffer.from(
      "HTTP/1.1 200 OK\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\nX-Dropship-Track: forged\r\nX-Request-Id: forged\r\nContent-Type: text/plain\r\n\r\n",
    ),
    "GET",
  );
  if (!passed || isHeadError(passed)) throw new Error(JSON.stringify(passed));
  // as a Response is made from them (../forward.ts serveAnswering)
  const out = new Headers(passed.fields.concat(ourFields("production", "10.0.0.5:3000", "req-2")));
  expect(out.getSetCookie()).toEqual(["a=1", "b=2"]);
  expect(out.get("content-type")).toBe("text/plain");
  expect(out.get("x-dropship-track")).toBe("production");
  expect(out.get("x-dropship-backend")).toBe("10.0.0.5:3000");
  expect(out.get("x-request-id")).toBe("req-2");
});

test("a sane request id is kept, anything else replaced", () => {
  expect(requestIdOf(new Headers({ "x-request-id": "abc-123" }))).toBe("abc-123");
  expect(requestIdOf(new Headers({ "x-request-id": "bad id\n" }))).toMatch(/^[0-9a-f-]{36}$/);
  expect(requestIdOf(new Headers())).toMatch(/^[0-9a-f-]{36}$/);
});

test("cookie values are found only under their exact name", () => {
  expect(cookieValue("a=1; dropship_client=abc; b=2", "dropship_client")).toBe("abc");
  expect(cookieValue("dropship_client=abc", "dropship_client")).toBe("abc");
  expect(cookieValue("xdropship_client=abc", "dropship_client")).toBeUndefined();
  expect(cookieValue("dropship_client=<script>", "dropship_client")).toBeUndefined();
  expect(cookieValue(null, "dropship_client")).toBeUndefined();
});

test("GET, HEAD and OPTIONS are the methods a proxy may send twice", () => {
  expect(["GET", "HEAD", "OPTIONS"].every(isIdempotent)).toBe(true);
  expect(["POST", "PUT", "PATCH", "DELETE"].some(isIdempotent)).toBe(false);
});

/** The head a backend receives for `raw`, through the own front's bytes, and through a Headers. */
function bothWays(raw: string, ctx: typeof context): { bytes: string; headers: string } {
  const read = readRequestHead(Buffer.from(raw, "latin1"));
  if (read.kind !== "own") throw new Error(`not read by the own front: ${read.kind}`);
  const origin = { hostname: "10.0.0.5", port: 3000, host: "10.0.0.5:3000" };
  const send = (head: UpstreamHead) =>
    Buffer.from(
      requestHead({ method: read.method, target: read.target, head, body: null }, origin, false),
    )
      .toString("latin1")
      .split("\r\n");
  const headers = new Headers();
  read.fields.forEach((value, name) => {
    headers.append(name, value);
  });
  const [line, ...fields] = send(upstreamHead(read.fields, ctx));
  const [sameLine, ...sameFields] = send(upstreamHead(headers, ctx));
  // a Headers gives its fields sorted by name: compare them as sets
  return {
    bytes: [line, ...fields.sort()].join("\n"),
    headers: [sameLine, ...sameFields.sort()].join("\n"),
  };
}

test("a request read as bytes sends its backend what the same request as a Headers does", () => {
  const cases: [string, typeof context][] = [
    [
      "GET /a?b=1 HTTP/1.1\r\nHost: Shop.Example\r\nUser-Agent: UA/1 \r\nAccept:*/*\r\nCookie: dropship_client=abc\r\n\r\n",
      context,
    ],
    [
      "GET / HTTP/1.1\r\nhost: shop.example\r\nConnection: keep-alive, X-Secret-Hop\r\nX-SECRET-HOP: 1\r\nKeep-Alive: timeout=5\r\nTE: trailers\r\nProxy-Authorization: Basic abc\r\nX-Kept: yes\r\n\r\n",
      context,
    ],
    [
      "HEAD /x HTTP/1.1\r\nHost: shop.example\r\nX-Forwarded-For: 198.51.100.1\r\nX-Forwarded-Proto: https\r\nX-Forwarded-Host: claimed.example\r\nX-Request-Id: mine\r\nX-Dropship-Track: production\r\nX-Dropship-Client: forged\r\n\r\n",
      context,
    ],
    [
      "GET /x HTTP/1.1\r\nHost: shop.example\r\nX-Forwarded-For: 198.51.100.1, 10.0.0.9\r\nX-Forwarded-Proto: https\r\nX-Forwarded-Host: shop.example\r\n\r\n",
      trusted,
    ],
    [
      "DELETE /x HTTP/1.1\r\nHost: shop.example\r\nAuthorization: Bearer admin-token\r\n\r\n",
      context,
    ],
    [
      "OPTIONS /x HTTP/1.1\r\nHost: shop.example\r\nAuthorization: Bearer user-42\r\n\r\n",
      { ...context, forwardHost: false },
    ],
  ];
  for (const [raw, ctx] of cases) {
    const { bytes, headers } = bothWays(raw, ctx);
    expect(bytes).toBe(headers);
  }
});

/** The lines the proxy adds for `context` and a visitor's Host of shop.example. */
const PROXY_LINES = [
  "x-forwarded-for: 203.0.113.9",
  "x-forwarded-proto: http",
  "x-forwarded-host: shop.example",
  "x-request-id: req-1",
  "x-dropship-client: c1",
  "x-dropship-track: staging",
];

test("fields read as bytes go on in their order, names in lower case, then the proxy's", () => {
  const read = readRequestHead(
    Buffer.from(
      "GET /p HTTP/1.1\r\nHost: shop.example\r\nX-Token: Bearer admin-token\r\nAuthorization: Bearer admin-token\r\nUser-Agent:  ua  \r\nConnection: close\r\n\r\n",
      "latin1",
    ),
  );
  if (read.kind !== "own") throw new Error(read.kind);
  const head = upstreamHead(read.fields, context);
  const origin = { hostname: "10.0.0.5", port: 3000, host: "10.0.0.5:3000" };
  const sent = requestHead({ method: "GET", target: "/p", head, body: null }, origin, false);
  expect(Buffer.from(sent).toString("latin1").split("\r\n")).toEqual([
    "GET /p HTTP/1.1",
    "host: shop.example",
    "x-token: Bearer admin-token",
    "user-agent: ua",
    ...PROXY_LINES,
    "",
    "",
  ]);
});

test("the request head says the backend's Host when the visitor's is not forwarded, and chunked for an unsized body", () => {
  const head = upstreamHead(new Headers({ host: "shop.example", "x-note": "caf\u00e9" }), {
    ...context,
    forwardHost: false,
  });
  const origin = { hostname: "10.0.0.5", port: 3000, host: "10.0.0.5:3000" };
  const sent = requestHead(
    { method: "POST", target: "/upload?a=1", head, body: new ReadableStream() },
    origin,
    true,
  );
  expect(Buffer.from(sent).toString("latin1").split("\r\n")).toEqual([
    "POST /upload?a=1 HTTP/1.1",
    "host: 10.0.0.5:3000",
    "x-note: caf\u00e9",
    ...PROXY_LINES,
    "transfer-encoding: chunked",
    "",
    "",
  ]);
});

test("a Content-Length Bun.serve joined from equal repeats goes on as one number", () => {
  const incoming = new Headers([
    ["host", "shop.example"],
    ["content-length", "2"],
    ["content-length", "2"],
  ]);
  expect(incoming.get("content-length")).toBe("2, 2");
  const head = upstreamHead(incoming, context);
  expect(head.hasLength).toBe(true);
  const at = head.fields.indexOf("content-length");
  expect(head.fields.slice(at, at + 2)).toEqual(["content-length", "2"]);
  expect(head.fields.filter((field) => field === "content-length")).toHaveLength(1);
});

test("Connection naming only fields dropped anyway drops nothing more; naming others drops them", () => {
  const kept = upstreamHeaders(
    new Headers({ host: "h", connection: "Keep-Alive, TE", "x-kept": "1" }),
    context,
  );
  expect(kept.get("x-kept")).toBe("1");
  const named = upstreamHeaders(
    new Headers({ host: "h", connection: "keep-alive, X-Kept, close", "x-kept": "1", close: "x" }),
    context,
  );
  expect(named.get("x-kept")).toBeNull();
  expect(named.get("close")).toBeNull();
});

test("a small body read by the front follows its head in the same bytes, with the visitor's Content-Length, or one of its size when theirs was not kept", () => {
  const read = readRequestHead(
    Buffer.from(
      "POST /f HTTP/1.1\r\nHost: shop.example\r\nContent-Length: 5\r\nContent-Type: text/plain\r\n\r\nhello",
      "latin1",
    ),
  );
  if (read.kind !== "own") throw new Error(read.kind);
  const origin = { hostname: "10.0.0.5", port: 3000, host: "10.0.0.5:3000" };
  const body = Buffer.from("hello");
  const head = upstreamHead(read.fields, context);
  const sent = requestHead({ method: "POST", target: "/f", head, body }, origin, false, body);
  expect(Buffer.from(sent).toString("latin1").split("\r\n")).toEqual([
    "POST /f HTTP/1.1",
    "host: shop.example",
    "content-length: 5",
    "content-type: text/plain",
    ...PROXY_LINES,
    "",
    "hello",
  ]);
  // fields that came as a Headers without a length: the body's own is written
  const bare = upstreamHead(new Headers({ host: "shop.example" }), context);
  const framed = requestHead(
    { method: "PUT", target: "/f", head: bare, body },
    origin,
    false,
    body,
  );
  const lines = Buffer.from(framed).toString("latin1").split("\r\n");
  expect(lines.filter((line) => line.startsWith("content-length"))).toEqual(["content-length: 5"]);
  expect(lines.at(-1)).toBe("hello");
  expect(lines.at(-2)).toBe("");
});
