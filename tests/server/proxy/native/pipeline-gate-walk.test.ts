import { expect, test } from "bun:test";
import { PipelineGate } from "../../../../server/proxy/native/pipeline-gate.ts";
import { seededRandom } from "../../../helpers/seeded.ts";

/**
 * The gate against a model of its two sides, over many seeded random walks: a visitor who
 * pipelines GETs, HEADs, POSTs with a length and chunked PUTs, in writes split anywhere;
 * Bun.serve, which answers each request it gets (some as soon as the head is in, before the
 * body), with a length, chunked, an empty body, a 204, an interim 100 first, in pieces split
 * anywhere; and the front, which answers GETs and POSTs whose body is all there itself once the
 * gate hands one back (it waits for the rest of a POST's body), and passes the connection again
 * (the gate reopened) at the next request it does not own. Every request
 * must be answered once, in order, by one side; Bun.serve must never see a byte of a request
 * before the answer to the one before it is over; and the gate must never step aside.
 */

const encode = (text: string) => new TextEncoder().encode(text);

interface Request {
  bytes: Uint8Array;
  headSize: number;
  method: string;
  /** Bun.serve answers it once its head is in */
  early: boolean;
}

function requests(rand: () => number, count: number): Request[] {
  const out: Request[] = [];
  for (let i = 0; i < count; i++) {
    const pick = rand();
    let head: string;
    let body = "";
    let method = "GET";
    let early = false;
    if (pick < 0.45) {
      head = `GET /g${i} HTTP/1.1\r\nHost: a\r\n\r\n`;
    } else if (pick < 0.55) {
      method = "HEAD";
      head = `HEAD /h${i} HTTP/1.1\r\nHost: a\r\n\r\n`;
    } else if (pick < 0.8) {
      method = "POST";
      body = "x".repeat(Math.floor(rand() * 40));
      early = rand() < 0.3;
      head = `POST /p${i} HTTP/1.1\r\nHost: a\r\nContent-Length: ${body.length}\r\n\r\n`;
    } else {
      method = "PUT";
      const chunks = Array.from({ length: Math.floor(rand() * 3) }, () =>
        "y".repeat(1 + Math.floor(rand() * 20)),
      );
      body = `${chunks.map((c) => `${c.length.toString(16)}\r\n${c}\r\n`).join("")}0\r\n\r\n`;
      head = `PUT /u${i} HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n`;
    }
    out.push({ bytes: encode(head + body), headSize: head.length, method, early });
  }
  return out;
}

function answer(rand: () => number, method: string): Uint8Array {
  const interim = rand() < 0.15 ? "HTTP/1.1 100 Continue\r\n\r\n" : "";
  const pick = rand();
  if (method === "HEAD") return encode(`${interim}HTTP/1.1 200 OK\r\ncontent-length: 99\r\n\r\n`);
  if (pick < 0.35) {
    const body = "b".repeat(Math.floor(rand() * 30));
    return encode(`${interim}HTTP/1.1 200 OK\r\ncontent-length: ${body.length}\r\n\r\n${body}`);
  }
  if (pick < 0.6) {
    const chunks = Array.from({ length: Math.floor(rand() * 3) }, () =>
      "c".repeat(1 + Math.floor(rand() * 10)),
    );
    const body = `${chunks.map((c) => `${c.length.toString(16)}\r\n${c}\r\n`).join("")}0\r\n\r\n`;
    return encode(`${interim}HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n${body}`);
  }
  if (pick < 0.8) return encode(`${interim}HTTP/1.1 303 See Other\r\ncontent-length: 0\r\n\r\n`);
  return encode(`${interim}HTTP/1.1 204 No Content\r\n\r\n`);
}

function pieces(rand: () => number, bytes: Uint8Array): Uint8Array[] {
  const out: Uint8Array[] = [];
  let at = 0;
  while (at < bytes.length) {
    const size = rand() < 0.3 ? 1 : 1 + Math.floor(rand() * 60);
    out.push(bytes.slice(at, at + size));
    at += size;
  }
  return out;
}

const join = (parts: Uint8Array[]) => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
};

/** One walk: who answered each request, in order. */
function walk(seed: number): { by: number[]; count: number; takenBack: number; postsBack: number } {
  const rand = seededRandom(seed);
  const all = requests(rand, 12 + Math.floor(rand() * 12));
  const starts: number[] = [];
  let total = 0;
  for (const r of all) {
    starts.push(total);
    total += r.bytes.length;
  }
  const stream = join(all.map((r) => r.bytes));
  // as the front's owns(): a GET, or a POST whose body came with its head
  const owns = (bytes: Uint8Array) => {
    const text = new TextDecoder().decode(bytes);
    if (text.startsWith("GET ")) return true;
    const length = /^POST [\s\S]*?Content-Length: (\d+)\r\n/.exec(text);
    return length !== null && bytes.length >= text.indexOf("\r\n\r\n") + 4 + Number(length[1]);
  };
  const gate = new PipelineGate(1 << 16, owns);
  const by: number[] = [];
  let takenBack = 0;
  let postsBack = 0;
  const sends = pieces(rand, stream);
  /** the visitor's bytes sent so far */
  let sent = 0;
  let mode = "passed" as "passed" | "front";
  /** bytes the front holds, from the start of the request it is on */
  let frontBuffer: Uint8Array = new Uint8Array(0);
  // Bun.serve: where its connection began in the visitor's bytes, how many it got, the request
  // it answers next, the answers over so far (every one before `over`), the answer it is writing
  let from = 0;
  let received = 0;
  let next = 0;
  let over = 0;
  let writing: Uint8Array[] = [];

  const toServe = (bytes: Uint8Array) => {
    if (bytes.length === 0) return;
    // the visitor's bytes, in order, none lost or sent twice
    const at = from + received;
    expect(Array.from(bytes)).toEqual(Array.from(stream.subarray(at, at + bytes.length)));
    received += bytes.length;
    // and no byte of a request before every answer before it is over
    const last = starts.findLastIndex((start) => start < from + received);
    expect(last <= over).toBe(true);
    serve();
  };
  const serve = () => {
    const request = all[next];
    if (!request || writing.length > 0) return;
    const need = request.early ? request.headSize : request.bytes.length;
    if (from + received < (starts[next] as number) + need) return;
    by.push(next);
    writing = pieces(rand, answer(rand, request.method));
  };
  const handedBack = () => {
    const back = gate.back;
    if (!back) return;
    takenBack++;
    // at the start of a request the front owns, once every answer before it is over
    const index = starts.indexOf(sent - back.length);
    const request = all[index] as Request;
    expect(["GET", "POST"]).toContain(request.method);
    // a POST with its body whole
    if (request.method === "POST") {
      expect(back.length).toBeGreaterThanOrEqual(request.bytes.length);
      postsBack++;
    }
    expect(index).toBe(over);
    mode = "front";
    frontBuffer = back;
    front();
  };
  const front = () => {
    for (;;) {
      const index = starts.indexOf(sent - frontBuffer.length);
      const request = all[index];
      if (!request || frontBuffer.length < request.headSize) return;
      if (request.method === "GET" || request.method === "POST") {
        // the rest of a POST's body is waited for
        if (frontBuffer.length < request.bytes.length) return;
        by.push(index);
        frontBuffer = frontBuffer.slice(request.bytes.length);
        continue;
      }
      // a request it does not own: the connection is passed again, the gate reopened
      mode = "passed";
      gate.reopen();
      from = starts[index] as number;
      received = 0;
      next = index;
      over = index;
      const rest = frontBuffer;
      frontBuffer = new Uint8Array(0);
      toServe(gate.fromVisitor(rest));
      handedBack();
      return;
    }
  };

  for (let step = 0; step < 100_000; step++) {
    const canSend = sends.length > 0;
    const canAnswer = writing.length > 0;
    if (!canSend && !canAnswer) break;
    if (canSend && (!canAnswer || rand() < 0.5)) {
      const piece = sends.shift() as Uint8Array;
      sent += piece.length;
      if (mode === "front") {
        frontBuffer = join([frontBuffer, piece]);
        front();
      } else {
        toServe(gate.fromVisitor(piece));
        handedBack();
      }
    } else {
      const piece = writing.shift() as Uint8Array;
      if (writing.length === 0) {
        over = next + 1;
        next++;
      }
      const released = gate.fromInner(piece);
      toServe(released);
      handedBack();
      if (mode === "passed") serve();
    }
    expect(gate.stepsAside).toBe(false);
  }
  return { by, count: all.length, takenBack, postsBack };
}

test("random pipelines, split anywhere both ways: each request answered once, in order, by the front or Bun.serve, and Bun.serve never given one early", () => {
  let takenBack = 0;
  let postsBack = 0;
  for (let seed = 1; seed <= 300; seed++) {
    const { by, count, takenBack: back, postsBack: posts } = walk(seed);
    takenBack += back;
    postsBack += posts;
    expect({ seed, by }).toEqual({ seed, by: Array.from({ length: count }, (_, i) => i) });
  }
  // the walks went where the test is about: the front took connections back, many times
  expect(takenBack).toBeGreaterThan(300);
  expect(postsBack).toBeGreaterThan(50);
});
