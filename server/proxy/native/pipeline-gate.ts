import { ChunkedDecoder } from "../upstream/chunked.ts";
import { headEnd, isHeadError, parseHead } from "../upstream/head.ts";
import { MAX_OWN_HEAD } from "./request-head.ts";

/**
 * Bun.serve (1.4.5) closes a connection, writing nothing, when a request arrives on it while
 * the answer to the one before is still being made (an async handler, as every forwarded
 * request is): both are lost. A visitor who pipelines behind a request the front passes on (a
 * POST, an upgrade, an odd head) would get neither answer. This gate sits in that relay and
 * lets one request through at a time: the bytes after a request's end wait until its answer's
 * last byte has gone back, then go on. It reads the framing of both and changes no byte; where
 * it cannot be sure of a request's or an answer's end (framing it does not take, a malformed
 * head, an upgrade, an answer delimited by its close) it steps aside for good and the relay is
 * byte for byte as before — the worst it can do is what Bun.serve does without it.
 */
export class PipelineGate {
  /**
   * `limit`: bytes it holds before the relay stops reading the visitor. `owns`: whether the
   * front would answer the request these bytes start with (its head whole, then what came
   * after it) itself; given, a request that comes once the answers before it are over has its
   * head gathered whole first, and one the front owns is handed back to it (`back`) with
   * everything after it, instead of going on.
   */
  constructor(
    private readonly limit: number,
    private readonly owns?: (request: Uint8Array) => boolean,
  ) {}

  /** The bytes from a request the front answers itself on: the connection is the front's again. */
  back: Uint8Array | undefined;
  /** a request went through and its answer is over: the next one may be the front's */
  private answered = false;
  /** a head gathered at such a boundary, before it is known whose it is */
  private boundaryHead: Uint8Array = EMPTY;
  /** an answer said the connection closes after it: it is never handed back */
  private ending = false;
  private open = false;
  /** the request being sent on: its head's bytes so far, its body, or all of it sent */
  private request: RequestState = { kind: "head", bytes: EMPTY };
  /**
   * its answer, read from the moment the request's head has gone (Bun.serve may answer before
   * the body is in: a refusal, an interim 100); undefined while no head has gone
   */
  private answer: AnswerState | undefined;
  /** bytes after the request in flight, held until its answer is over */
  private held: Uint8Array = EMPTY;
  private method = "GET";

  /** Holds more than its limit: the visitor is not read until some goes on. */
  get full(): boolean {
    return this.held.length > this.limit;
  }

  /** The gate stepped aside: the relay passes every byte at once. */
  get stepsAside(): boolean {
    return this.open;
  }

  /** The visitor's bytes: what may go to Bun.serve now; the rest waits. */
  fromVisitor(bytes: Uint8Array): Uint8Array {
    if (this.open) return bytes;
    if (this.back) return EMPTY;
    if (this.request.kind === "sent") {
      this.held = join(this.held, bytes);
      return EMPTY;
    }
    return this.atBoundary() ? this.admit(bytes) : this.through(bytes);
  }

  /** Bun.serve's bytes on their way to the visitor: what of the held may go on now. */
  fromInner(bytes: Uint8Array): Uint8Array {
    if (this.open || this.back) return EMPTY;
    // an answer to no request, or a second one: the gate has lost its place
    if (this.answer === undefined || this.answer.kind === "over") {
      this.stepAside();
      return this.takeHeld();
    }
    this.readAnswer(bytes);
    if (this.open) return this.takeHeld();
    // (readAnswer moved it on)
    const answer = this.answer as AnswerState;
    if (answer.kind !== "over" || this.request.kind !== "sent") return EMPTY;
    this.next();
    const held = this.takeHeld();
    return held.length ? this.admit(held) : EMPTY;
  }

  /** Passed on again after it was handed back: the next request is a new first one. */
  reopen(): void {
    this.back = undefined;
    this.answered = false;
    this.ending = false;
    this.request = { kind: "head", bytes: EMPTY };
    this.answer = undefined;
    this.held = EMPTY;
    this.boundaryHead = EMPTY;
  }

  /** No request in flight and the answers before over, with `owns` to ask. */
  private atBoundary(): boolean {
    return (
      this.owns !== undefined &&
      this.answered &&
      !this.ending &&
      this.answer === undefined &&
      this.request.kind === "head" &&
      this.request.bytes.length === 0
    );
  }

  /**
   * The next request's bytes at a boundary: its head is gathered whole (up to the 16 KiB
   * Bun.serve reads), then handed back if the front owns it, or sent on with what follows.
   */
  private admit(bytes: Uint8Array): Uint8Array {
    if (!this.atBoundary()) return this.through(bytes);
    const all = join(this.boundaryHead, bytes);
    const end = headEnd(all, Math.max(0, this.boundaryHead.length - 3));
    if (end === -1 && all.length <= MAX_OWN_HEAD) {
      this.boundaryHead = all;
      return EMPTY;
    }
    this.boundaryHead = EMPTY;
    if (end > 0 && this.owns?.(all)) {
      this.back = all;
      return EMPTY;
    }
    // not the front's: this head goes on, and the gate reads it as any other
    return this.through(all);
  }

  /**
   * The part of `bytes` that may go on now: the request in flight and, when its answer is
   * already over, the ones after it; from the first request whose answer is not over, the rest
   * is held.
   */
  private through(bytes: Uint8Array): Uint8Array {
    let at = 0;
    while (at < bytes.length) {
      const request = this.request;
      if (request.kind === "sent") {
        this.held = bytes.slice(at);
        return bytes.subarray(0, at);
      }
      const piece = bytes.subarray(at);
      if (request.kind === "head") {
        const all = join(request.bytes, piece);
        const end = headEnd(all, Math.max(0, request.bytes.length - 3));
        // Bun.serve refuses a head over 16 KiB as the front does: no longer one is gathered
        if (end === -1 && all.length <= MAX_OWN_HEAD) {
          this.request = { kind: "head", bytes: all };
          return bytes;
        }
        const framing = end > 0 ? requestFraming(all.subarray(0, end)) : undefined;
        if (!framing) return this.stepAside(bytes);
        this.method = framing.method;
        this.answer = { kind: "head", bytes: EMPTY };
        this.request =
          framing.body === "chunked"
            ? { kind: "chunked", decoder: new ChunkedDecoder() }
            : framing.body === 0
              ? { kind: "sent" }
              : { kind: "length", left: framing.body };
        // the head's bytes before this piece went on already
        at += end - request.bytes.length;
        continue;
      }
      const rest = this.body(request, piece);
      if (rest === undefined) return bytes;
      if (rest === null) return this.stepAside(bytes);
      at = bytes.length - rest.length;
      this.request = { kind: "sent" };
      // answered before its body was all in: the next request goes on too (or back)
      if (this.answer?.kind === "over") {
        this.next();
        if (this.atBoundary()) return join(bytes.subarray(0, at), this.admit(bytes.subarray(at)));
      }
    }
    return bytes;
  }

  /**
   * Reads body bytes of the request in flight: undefined while it goes on, the bytes past its
   * end once it is over, null for a body it cannot follow.
   */
  private body(
    request: Exclude<RequestState, { kind: "head" | "sent" }>,
    bytes: Uint8Array,
  ): Uint8Array | undefined | null {
    if (request.kind === "length") {
      if (bytes.length < request.left) {
        request.left -= bytes.length;
        return undefined;
      }
      const rest = bytes.subarray(request.left);
      request.left = 0;
      return rest;
    }
    try {
      const decoded = request.decoder.feed(bytes);
      return decoded.done ? (decoded.rest ?? EMPTY) : undefined;
    } catch {
      return null;
    }
  }

  /** The request sent and its answer over: the next one may go. */
  private next(): void {
    this.request = { kind: "head", bytes: EMPTY };
    this.answer = undefined;
    this.answered = true;
  }

  /** Follows the answer to the request in flight, until it is over. */
  private readAnswer(bytes: Uint8Array): void {
    let rest: Uint8Array = bytes;
    while (rest.length > 0) {
      const answer = this.answer as AnswerState;
      if (answer.kind === "over") return void this.stepAside();
      if (answer.kind === "head") {
        const all = join(answer.bytes, rest);
        const head = parseHead(all, this.method);
        if (head === undefined) {
          this.answer = { kind: "head", bytes: all };
          return;
        }
        if (isHeadError(head) || head.status === 101 || head.framing.kind === "close") {
          return void this.stepAside();
        }
        rest = all.subarray(head.size);
        // an interim answer (100 Continue): the final one follows
        if (head.status < 200) {
          this.answer = { kind: "head", bytes: EMPTY };
          continue;
        }
        if (!head.reusable) this.ending = true;
        const framing = head.framing;
        // an empty body (a 303 after a POST says Content-Length: 0) is over with its head
        this.answer =
          framing.kind === "none" || (framing.kind === "length" && framing.length === 0)
            ? { kind: "over" }
            : framing.kind === "chunked"
              ? { kind: "chunked", decoder: new ChunkedDecoder() }
              : { kind: "length", left: framing.length };
        continue;
      }
      if (answer.kind === "length") {
        if (rest.length < answer.left) {
          answer.left -= rest.length;
          return;
        }
        rest = rest.subarray(answer.left);
        this.answer = { kind: "over" };
        continue;
      }
      try {
        const decoded = answer.decoder.feed(rest);
        if (!decoded.done) return;
        rest = decoded.rest ?? EMPTY;
        this.answer = { kind: "over" };
      } catch {
        return void this.stepAside();
      }
    }
  }

  /** From now on every byte passes at once; `bytes` with it. */
  private stepAside(bytes: Uint8Array = EMPTY): Uint8Array {
    this.open = true;
    this.answer = undefined;
    this.request = { kind: "head", bytes: EMPTY };
    return bytes;
  }

  private takeHeld(): Uint8Array {
    // a head gathered at a boundary is the first of what waits
    const held = join(this.boundaryHead, this.held);
    this.boundaryHead = EMPTY;
    this.held = EMPTY;
    return held;
  }
}

type RequestState =
  | { kind: "head"; bytes: Uint8Array }
  | { kind: "length"; left: number }
  | { kind: "chunked"; decoder: ChunkedDecoder }
  | { kind: "sent" };

type AnswerState =
  | { kind: "head"; bytes: Uint8Array }
  | { kind: "length"; left: number }
  | { kind: "chunked"; decoder: ChunkedDecoder }
  | { kind: "over" };

const EMPTY = new Uint8Array(0);
const latin1 = new TextDecoder("latin1");

/**
 * A request head's method and body, when its framing is one the gate is sure to read as
 * Bun.serve does: no body, one Content-Length of digits, or Transfer-Encoding: chunked alone.
 * Anything else (CONNECT, an upgrade, both fields, a list of codings, odd spacing) is left to
 * Bun.serve with the gate out of the way.
 */
export function requestFraming(
  head: Uint8Array,
): { method: string; body: number | "chunked" } | undefined {
  const text = latin1.decode(head);
  const lines = text.slice(0, -4).split("\r\n");
  const method = /^([A-Z]+) \S+ HTTP\/1\.1$/.exec(lines[0] ?? "")?.[1];
  if (!method || method === "CONNECT") return undefined;
  let length: number | undefined;
  let chunked = false;
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(":");
    if (colon <= 0) return undefined;
    const name = line.slice(0, colon).toLowerCase();
    const value = line.slice(colon + 1).trim();
    if (name === "content-length") {
      if (length !== undefined || !/^\d{1,15}$/.test(value)) return undefined;
      length = Number(value);
    } else if (name === "transfer-encoding") {
      if (chunked || value.toLowerCase() !== "chunked") return undefined;
      chunked = true;
    } else if (name === "upgrade" || (name === "connection" && /upgrade/i.test(value))) {
      return undefined;
    }
  }
  if (chunked && length !== undefined) return undefined;
  return { method, body: chunked ? "chunked" : (length ?? 0) };
}

function join(a: Uint8Array, b: Uint8Array): Uint8Array {
  if (a.length === 0) return b;
  if (b.length === 0) return a;
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}
