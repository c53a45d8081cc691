import { expect, test } from "bun:test";
import type { Socket } from "bun";
import { addBackend, startProxy } from "../../../helpers/proxy.ts";
import { connectTo, startRedis } from "../../../helpers/redis.ts";
import { seededRandom } from "../../../helpers/seeded.ts";
import { startUpstream } from "../../../helpers/upstream.ts";

/**
 * The own front on raw sockets, over seeded random walks: one visitor pipelines GETs, small
 * POSTs the front reads itself (their bodies made of bytes that look like requests), chunked
 * POSTs and large PUTs it passes to Bun.serve behind, in writes split anywhere, some at once,
 * some after a pause, a few after one longer than the front waits for a body. Every request
 * must be answered once, in order, with 200; each body must reach the backend whole, and
 * nothing inside a body may reach it as a request of its own.
 */

const redis = await startRedis();
const upstream = startUpstream("walk");
await addBackend(await connectTo(redis), "production", upstream.url);
const proxy = await startProxy(redis, "health: { interval: 200ms, timeout: 1s }\n", {
  DROPSHIP_PROXY_WORKERS: "1",
});

interface Sent {
  method: string;
  path: string;
  body: string | undefined;
}

/** the paths of chunked POSTs, which are always Bun.serve's */
const chunkedPaths = new Set<string>();

/** A body a stranger might send: text, with whole request heads inside it now and then. */
function bodyOf(rand: () => number, size: number): string {
  let body = "";
  while (body.length < size) {
    body +=
      rand() < 0.2
        ? "GET /smuggled HTTP/1.1\r\nHost: site.test\r\n\r\n"
        : "field=value&".slice(0, 1 + Math.floor(rand() * 12));
  }
  return body.slice(0, size);
}

function requests(rand: () => number, seed: number): { sent: Sent[]; bytes: string } {
  const sent: Sent[] = [];
  let bytes = "";
  const count = 6 + Math.floor(rand() * 8);
  for (let i = 0; i < count; i++) {
    const path = `/w${seed}-${i}`;
    const pick = rand();
    if (pick < 0.35) {
      sent.push({ method: "GET", path, body: undefined });
      bytes += `GET ${path} HTTP/1.1\r\nHost: site.test\r\nAccept: */*\r\n\r\n`;
    } else if (pick < 0.75) {
      const body = bodyOf(rand, Math.floor(rand() * 600));
      sent.push({ method: "POST", path, body });
      bytes += `POST ${path} HTTP/1.1\r\nHost: site.test\r\nContent-Length: ${body.length}\r\n\r\n${body}`;
    } else if (pick < 0.9) {
      const body = bodyOf(rand, 1 + Math.floor(rand() * 300));
      sent.push({ method: "POST", path, body });
      chunkedPaths.add(path);
      bytes += `POST ${path} HTTP/1.1\r\nHost: site.test\r\nTransfer-Encoding: chunked\r\n\r\n${body.length.toString(16)}\r\n${body}\r\n0\r\n\r\n`;
    } else {
      const body = bodyOf(rand, 16 * 1024 + 1 + Math.floor(rand() * 2000));
      sent.push({ method: "PUT", path, body });
      bytes += `PUT ${path} HTTP/1.1\r\nHost: site.test\r\nContent-Length: ${body.length}\r\n\r\n${body}`;
    }
  }
  return { sent, bytes };
}

const sha256 = (text: string) => new Bun.CryptoHasher("sha256").update(text).digest("hex");

interface Walked {
  sent: Sent[];
  answers: string[];
  statuses: number[];
  /** who answered each: the front (its fields in lower case) or Bun.serve behind it */
  by: ("front" | "behind")[];
}

async function walk(seed: number): Promise<Walked> {
  const rand = seededRandom(seed);
  const { sent, bytes } = requests(rand, seed);
  let received = "";
  const socket: Socket = await Bun.connect({
    hostname: "127.0.0.1",
    port: proxy.port,
    socket: {
      data(_socket, data) {
        received += data.toString("latin1");
      },
    },
  });
  // at most one pause past the front's 250 ms wait for a body, in half the walks
  const longPauseAt = rand() < 0.5 ? Math.floor(rand() * bytes.length) : -1;
  let at = 0;
  while (at < bytes.length) {
    const pick = rand();
    const size =
      pick < 0.3
        ? 1 + Math.floor(rand() * 8)
        : pick < 0.8
          ? 1 + Math.floor(rand() * 400)
          : 1 + Math.floor(rand() * 4000);
    socket.write(bytes.slice(at, at + size));
    const long = at <= longPauseAt && longPauseAt < at + size;
    at += size;
    // most pieces follow at once or within a few ms
    if (long) await Bun.sleep(300);
    else if (rand() < 0.2) await Bun.sleep(Math.floor(rand() * 4));
  }
  const until = performance.now() + 10_000;
  const answered = () => received.match(/walk \w+ \/w\d+-\d+/g)?.length ?? 0;
  while (answered() < sent.length && performance.now() < until) await Bun.sleep(10);
  await Bun.sleep(30);
  socket.end();
  return {
    sent,
    answers: received.match(/walk \w+ \/w\d+-\d+/g) ?? [],
    statuses: [...received.matchAll(/HTTP\/1\.1 (\d{3}) /g)].map((m) => Number(m[1])),
    by: received
      .split(/(?=HTTP\/1\.1 )/)
      .map((answer) => (answer.includes("\r\ncontent-length:") ? "front" : "behind")),
  };
}

test("random pipelines of GETs and bodies small, chunked and large, split anywhere: each answered once, in order, every body whole at the backend, nothing in a body taken for a request", async () => {
  let posts = 0;
  // small POSTs (a Content-Length under 16 KiB) answered by each side
  const small = { front: 0, behind: 0 };
  for (let seed = 1; seed <= 40; seed++) {
    const { sent, answers, statuses, by } = await walk(seed);
    expect({ seed, answers }).toEqual({
      seed,
      answers: sent.map((request) => `walk ${request.method} ${request.path}`),
    });
    expect({ seed, statuses }).toEqual({ seed, statuses: sent.map(() => 200) });
    sent.forEach((request, i) => {
      const side = by[i];
      if (request.method === "POST" && side && !chunkedPaths.has(request.path)) small[side]++;
    });
    for (const request of sent) {
      if (request.body === undefined) continue;
      posts++;
      const got = upstream.received.find((r) => r.path === request.path);
      expect({ path: request.path, sha: got?.bodySha }).toEqual({
        path: request.path,
        sha: sha256(request.body),
      });
    }
  }
  expect(posts).toBeGreaterThan(100);
  // the walks went both ways: most small POSTs read by the front, some passed (a body that
  // paused past the wait, or one not all in when a passed answer ended)
  expect(small.front).toBeGreaterThan(50);
  expect(small.behind).toBeGreaterThan(0);
  expect(upstream.received.filter((r) => r.path === "/smuggled")).toEqual([]);
}, 120_000);
