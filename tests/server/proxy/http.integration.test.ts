import { expect, test } from "bun:test";
import { gunzipSync } from "node:zlib";
import { addBackend, startProxy } from "../../helpers/proxy.ts";
import { connectTo, startRedis } from "../../helpers/redis.ts";
import { BIG_BODY, startUpstream } from "../../helpers/upstream.ts";

const redis = await startRedis();
const state = await connectTo(redis);
const upstream = startUpstream("only");
await addBackend(state, "production", upstream.url);
const proxy = await startProxy(redis);
const last = () => upstream.received.at(-1);

/** Sends raw bytes over one TCP connection and returns everything read until it goes quiet. */
async function raw(
  request: string | Uint8Array,
  { body, quietMs = 300 }: { body?: Uint8Array; quietMs?: number } = {},
) {
  let received = "";
  let sawContinue: () => void = () => {};
  const continued = new Promise<void>((resolve) => {
    sawContinue = resolve;
  });
  const socket = await Bun.connect({
    hostname: "127.0.0.1",
    port: proxy.port,
    socket: {
      data(_socket, data) {
        received += data.toString("latin1");
        if (received.includes("100 Continue")) sawContinue();
      },
    },
  });
  socket.write(request);
  if (body) {
    await Promise.race([continued, Bun.sleep(2000)]);
    socket.write(body);
  }
  let length = -1;
  while (length !== received.length) {
    length = received.length;
    await Bun.sleep(quietMs);
  }
  socket.end();
  return received;
}

test("hop-by-hop request fields are dropped; forwarding fields and a request id are added", async () => {
  const response = await fetch(`${proxy.url}/hello?x=1`, {
    headers: {
      connection: "keep-alive, x-private",
      "x-private": "hop only",
      "keep-alive": "timeout=5",
      "x-forwarded-for": "198.51.100.7",
      "x-request-id": "trace-42",
      host: "shop.example",
    },
  });
  expect(response.status).toBe(200);
  const got = last();
  expect(got?.path).toBe("/hello?x=1");
  expect(got?.headers["x-private"]).toBeUndefined();
  expect(got?.headers["keep-alive"]).toBeUndefined();
  expect(got?.headers["x-forwarded-for"]).toBe("198.51.100.7, 127.0.0.1");
  expect(got?.headers["x-forwarded-host"]).toBe("shop.example");
  expect(got?.headers["x-forwarded-proto"]).toBe("http");
  expect(got?.headers["x-request-id"]).toBe("trace-42");
  expect(got?.headers.host).toBe(upstream.url.slice(7));
  expect(response.headers.get("x-request-id")).toBe("trace-42");

  await fetch(`${proxy.url}/again`);
  const generated = last()?.headers["x-request-id"] ?? "";
  expect(generated).toMatch(/^[0-9a-f-]{36}$/);
});

test("hop-by-hop response fields are dropped; repeated Set-Cookie fields all arrive", async () => {
  const response = await fetch(`${proxy.url}/cookies`, {
    headers: { cookie: "dropship_client=abc; dropship_track=production" },
  });
  expect(response.headers.getSetCookie()).toEqual(["first=1; Path=/", "second=2; Path=/"]);
  expect(response.headers.get("x-hop")).toBeNull();
});

test("repeated request fields reach the upstream", async () => {
  const text = await raw(
    "GET /multi HTTP/1.1\r\nHost: x\r\nX-Multi: one\r\nX-Multi: two\r\nConnection: close\r\n\r\n",
  );
  expect(text).toStartWith("HTTP/1.1 200");
  expect(last()?.headers["x-multi"]).toBe("one, two");
});

test("a large upload streams through intact", async () => {
  const body = new Uint8Array(20 * 1024 * 1024).map((_, i) => (i * 7) % 256);
  const response = await fetch(`${proxy.url}/upload`, { method: "POST", body });
  expect(response.status).toBe(200);
  expect(last()?.bodyBytes).toBe(body.length);
  expect(last()?.bodySha).toBe(new Bun.CryptoHasher("sha256").update(body).digest("hex"));
});

test("Expect: 100-continue is answered, and the upstream sees the body without the Expect field", async () => {
  const body = new TextEncoder().encode("x".repeat(5000));
  const text = await raw(
    `POST /expect HTTP/1.1\r\nHost: x\r\nContent-Length: ${body.length}\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n`,
    { body },
  );
  expect(text).toContain("HTTP/1.1 100 Continue");
  expect(text).toContain("HTTP/1.1 200");
  expect(last()?.path).toBe("/expect");
  expect(last()?.bodyBytes).toBe(5000);
  expect(last()?.headers.expect).toBeUndefined();
});

test("a 1 MiB answer arrives whole and a chunked one arrives in pieces", async () => {
  const big = await fetch(`${proxy.url}/big`);
  expect(new Uint8Array(await big.arrayBuffer())).toEqual(BIG_BODY);
  const text = await raw("GET /chunked HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  expect(text.toLowerCase()).toContain("transfer-encoding: chunked");
  expect(text).toContain("chunk 0\n");
  expect(text).toContain("chunk 4\n");
});

test("a gzip body is passed on compressed, as labelled", async () => {
  const text = await raw(
    "GET /gzip HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip\r\nConnection: close\r\n\r\n",
  );
  expect(text.toLowerCase()).toContain("content-encoding: gzip");
  const response = await fetch(`${proxy.url}/gzip`, {
    decompress: false,
    headers: { "accept-encoding": "gzip" },
  });
  expect(gunzipSync(new Uint8Array(await response.arrayBuffer())).toString()).toBe(
    "compressed by only",
  );
});

test("HEAD and 304 carry no body", async () => {
  const head = await raw("HEAD /big HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  expect(head).toStartWith("HTTP/1.1 200");
  expect(head.toLowerCase()).toContain(`content-length: ${BIG_BODY.length}`);
  expect(head.split("\r\n\r\n")[1]).toBe("");
  expect(last()?.method).toBe("HEAD");
  const notModified = await raw(
    'GET /not-modified HTTP/1.1\r\nHost: x\r\nIf-None-Match: "v1"\r\nConnection: close\r\n\r\n',
  );
  expect(notModified).toStartWith("HTTP/1.1 304");
  expect(notModified.toLowerCase()).toContain('etag: "v1"');
  expect(notModified.split("\r\n\r\n")[1]).toBe("");
});

test("no healthy backend: 503 with a plain explanation", async () => {
  upstream.healthy = false;
  upstream.stop();
  let response: Response | undefined;
  const deadline = Date.now() + 5000;
  while (Date.now() < deadline) {
    response = await fetch(`${proxy.url}/`);
    if (response.status === 503) break;
    await Bun.sleep(50);
  }
  expect(response?.status).toBe(503);
  expect(await response?.text()).toBe(
    "No healthy production backend is available right now; try again in a moment.\n",
  );
});
