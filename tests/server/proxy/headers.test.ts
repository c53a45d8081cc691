import { expect, test } from "bun:test";
import {
  cookieValue,
  isRetryable,
  prepareDownstream,
  requestIdOf,
  upstreamHeaders,
} from "../../../server/proxy/headers.ts";

const context = { clientIp: "203.0.113.9", requestId: "req-1", clientId: "c1", track: "staging" };

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
    "host",
  ]) {
    expect(out.has(name)).toBe(false);
  }
  expect(out.get("accept")).toBe("text/html");
  expect(out.get("x-forwarded-host")).toBe("shop.example");
  expect(out.get("x-forwarded-proto")).toBe("http");
  expect(out.get("x-forwarded-for")).toBe("203.0.113.9");
  expect(out.get("x-request-id")).toBe("req-1");
  expect(out.get("x-dropship-track")).toBe("staging");
});

test("X-Forwarded-For is appended to, not replaced", () => {
  const out = upstreamHeaders(new Headers({ "x-forwarded-for": "198.51.100.1" }), context);
  expect(out.get("x-forwarded-for")).toBe("198.51.100.1, 203.0.113.9");
});

test("the client gets the upstream's fields, repeated cookies intact, plus track and backend", () => {
  const upstream = new Headers([
    ["set-cookie", "a=1"],
    ["set-cookie", "b=2"],
    ["connection", "close"],
    ["content-type", "text/plain"],
  ]);
  prepareDownstream(upstream, "production", "10.0.0.5:3000", "req-2");
  const out = upstream;
  expect(out.getSetCookie()).toEqual(["a=1", "b=2"]);
  expect(out.has("connection")).toBe(false);
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

test("only bodiless idempotent methods are retried", () => {
  expect(["GET", "HEAD", "OPTIONS"].every(isRetryable)).toBe(true);
  expect(["POST", "PUT", "PATCH", "DELETE"].some(isRetryable)).toBe(false);
});
