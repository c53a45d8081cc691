import { ChunkedDecoder } from "./chunked.ts";
import { type Framing, isHeadError, parseHead, type ResponseHead } from "./head.ts";

/** A backend's answer, as the proxy passes it on. */
export interface UpstreamAnswer {
  status: number;
  /** its head: the reason and the fields the visitor gets */
  head: ResponseHead;
  /** whole when it was all in hand (its Content-Length then survives), else a stream */
  body: Uint8Array | ReadableStream<Uint8Array> | null;
}

/** The connection under a reader: flow control for a streamed body, and its end. */
export interface Flow {
  pause(): void;
  resume(): void;
  /** the visitor stopped reading: the connection cannot be reused */
  destroy(): void;
}

export interface ReaderEvents {
  answer(answer: UpstreamAnswer): void;
  /** a fault before the answer was handed over: malformed, or the connection ended */
  fault(reason: string, malformed: boolean): void;
  /** the whole answer has been read; `reusable` when the connection may carry another request */
  finished(reusable: boolean): void;
}

/** Bodies up to this size are read whole before the answer goes out, keeping their Content-Length. */
const WHOLE_UP_TO = 4 * 1024 * 1024;
const STREAM_HIGH_WATER = 256 * 1024;
const EMPTY = new Uint8Array(0);

/**
 * Reads one answer off a connection from the bytes fed to it: skips interim (1xx) answers,
 * parses the head strictly, then reads the body as framed. A body that is all there, or sized
 * and no larger than WHOLE_UP_TO, is handed over whole; any other streams with backpressure.
 */
export class AnswerReader {
  private pending: Uint8Array = EMPTY;
  private searched = 0;
  private framing: Framing | undefined;
  private reusable = false;
  private remaining = 0;
  private whole: Uint8Array | undefined;
  private filled = 0;
  private head: ResponseHead | undefined;
  private headRead = false;
  private decoder: ChunkedDecoder | undefined;
  private controller: ReadableStreamDefaultController<Uint8Array> | undefined;
  private over = false;

  constructor(
    private readonly method: string,
    private readonly flow: Flow,
    private readonly events: ReaderEvents,
  ) {}

  feed(bytes: Uint8Array): void {
    if (this.over) return;
    if (this.framing === undefined) {
      this.readHead(bytes);
      return;
    }
    this.readBody(bytes);
  }

  /** The connection closed (or failed) with `reason`. */
  end(reason: string): void {
    if (this.over) return;
    if (this.framing?.kind === "close" && this.controller) {
      this.over = true;
      this.controller.close();
      this.events.finished(false);
      return;
    }
    this.over = true;
    if (this.controller) {
      this.controller.error(new Error(`the backend's answer was cut short: ${reason}`));
      this.events.finished(false);
    } else {
      this.events.fault(this.headRead ? `its answer was cut short (${reason})` : reason, false);
    }
  }

  private readHead(bytes: Uint8Array): void {
    let buffer = this.pending.length ? concat(this.pending, bytes) : bytes;
    for (;;) {
      const head = parseHead(buffer, this.method, this.searched);
      if (head === undefined) {
        this.searched = Math.max(0, buffer.length - 1);
        this.pending = buffer === bytes ? bytes.slice() : buffer;
        return;
      }
      if (isHeadError(head)) {
        this.over = true;
        this.events.fault(head.error, true);
        return;
      }
      buffer = buffer.subarray(head.size);
      this.searched = 0;
      if (head.status < 200) continue; // interim answers (100, 103) are not passed on
      this.pending = EMPTY;
      this.framing = head.framing;
      this.reusable = head.reusable;
      this.head = head;
      this.headRead = true;
      this.startBody(buffer);
      return;
    }
  }

  private startBody(rest: Uint8Array): void {
    const framing = this.framing as Framing;
    if (framing.kind === "none") {
      this.hand(null);
      this.finish(rest.length === 0);
      return;
    }
    if (framing.kind === "length") {
      const { length } = framing;
      if (rest.length >= length) {
        this.hand(rest.slice(0, length));
        this.finish(rest.length === length);
        return;
      }
      this.remaining = length - rest.length;
      if (length <= WHOLE_UP_TO) {
        this.whole = new Uint8Array(length);
        this.whole.set(rest);
        this.filled = rest.length;
        return;
      }
      this.stream();
      if (rest.length) this.push(rest.slice());
      return;
    }
    if (framing.kind === "chunked") {
      this.decoder = new ChunkedDecoder();
      const decoded = this.decode(rest);
      if (!decoded) return;
      if (decoded.done) {
        this.hand(join(decoded.chunks));
        this.finish(decoded.rest?.length === 0);
        return;
      }
      this.stream();
      for (const chunk of decoded.chunks) this.push(chunk.slice());
      return;
    }
    this.stream();
    if (rest.length) this.push(rest.slice());
  }

  private readBody(bytes: Uint8Array): void {
    const framing = this.framing as Framing;
    if (framing.kind === "length") {
      const take = Math.min(bytes.length, this.remaining);
      this.remaining -= take;
      if (this.whole) {
        this.whole.set(bytes.subarray(0, take), this.filled);
        this.filled += take;
        if (this.remaining === 0) {
          const whole = this.whole;
          this.whole = undefined;
          this.hand(whole);
        }
      } else {
        this.push(bytes.slice(0, take));
      }
      if (this.remaining === 0) {
        this.controller?.close();
        this.finish(bytes.length === take);
      }
      return;
    }
    if (framing.kind === "chunked") {
      const decoded = this.decode(bytes);
      if (!decoded) return;
      for (const chunk of decoded.chunks) this.push(chunk.slice());
      if (decoded.done) {
        this.controller?.close();
        this.finish(decoded.rest?.length === 0);
      }
      return;
    }
    if (framing.kind === "close") this.push(bytes.slice());
    // "none": bytes after a bodiless answer; finish() already gave the connection up
  }

  private decode(bytes: Uint8Array) {
    try {
      return (this.decoder as ChunkedDecoder).feed(bytes);
    } catch (error) {
      this.over = true;
      const reason = `its chunked body is malformed: ${(error as Error).message}`;
      if (this.controller) {
        this.controller.error(new Error(reason));
        this.events.finished(false);
      } else this.events.fault(reason, true);
      return undefined;
    }
  }

  private hand(body: UpstreamAnswer["body"]): void {
    const head = this.head as ResponseHead;
    // the head holds the bytes it was read from: a long stream need not keep them
    this.head = undefined;
    this.events.answer({ status: head.status, head, body });
  }

  private stream(): void {
    const flow = this.flow;
    const body = new ReadableStream<Uint8Array>(
      {
        start: (controller) => {
          this.controller = controller;
        },
        pull: () => flow.resume(),
        cancel: () => {
          if (this.over) return;
          this.over = true;
          flow.destroy();
          this.events.finished(false);
        },
      },
      { highWaterMark: STREAM_HIGH_WATER, size: (chunk) => chunk?.byteLength ?? 0 },
    );
    this.hand(body);
  }

  private push(chunk: Uint8Array): void {
    const controller = this.controller;
    if (!controller || chunk.length === 0) return;
    controller.enqueue(chunk);
    if ((controller.desiredSize ?? 1) <= 0) this.flow.pause();
  }

  private finish(clean: boolean): void {
    this.over = true;
    this.events.finished(clean && this.reusable);
  }
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

function join(chunks: Uint8Array[]): Uint8Array {
  if (chunks.length === 1) return (chunks[0] as Uint8Array).slice();
  let size = 0;
  for (const c of chunks) size += c.length;
  const out = new Uint8Array(size);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}
