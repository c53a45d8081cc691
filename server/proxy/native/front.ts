import type { Socket, TCPSocketListener } from "bun";
import { type Admission, type ConnectionBudget, refusalFor } from "../../shared/net/connections.ts";
import {
  type Connection,
  connectInner,
  dropParked,
  flush,
  fromVisitor,
  newConnection,
  park,
  relayClosed,
  unpark,
  unparks,
} from "../../shared/net/relay.ts";
import { flushBacklog, writeOrQueue } from "../backlog.ts";
import { refusalOf } from "../classify.ts";
import type { AbortLike } from "../deadlines.ts";
import {
  type AnswerBody,
  type Answering,
  type ForwardDeps,
  forward,
  type Visit,
} from "../forward.ts";
import type { Retiring } from "../tls.ts";
import type { ResponseHead } from "../upstream/head.ts";
import { answerHead } from "./answer.ts";
import {
  authorityFault,
  fieldFault,
  type HeadFault,
  headSizeFault,
  requestLineFault,
} from "./head-faults.ts";
import { PipelineGate } from "./pipeline-gate.ts";
import {
  MAX_OWN_HEAD,
  type OwnRequest,
  type RequestFields,
  readRequestHead,
} from "./request-head.ts";

const EMPTY = new Uint8Array(0);
const encoder = new TextEncoder();
/** Answers up to this size go out in one write with their head. */
const ONE_WRITE = 64 * 1024;
/** How long an idle connection is kept after a stop, for the request its client may be sending. */
export const STOP_GRACE_S = 1;
/** Bytes read ahead of the request being answered; past this the visitor is not read. */
const MAX_PIPELINED = 4 * MAX_OWN_HEAD;
/** Bun's socket timers tick every 4 s (a timeout fires up to 4 s early), and a second more. */
const REUSE_MARGIN_MS = 5000;
/**
 * How long a small body may take to follow its head before the request is passed on to
 * Bun.serve, which waits for it as long as proxy.response_timeout allows: a client that
 * writes the head and the body apart sends both at once, and one that pauses is slow.
 */
const BODY_WAIT_MS = 250;

/** One visitor's connection. */
interface Visitor {
  peer: string;
  /** `peer` is the address a front before this one was told (OwnFrontSettings.sourceBefore) */
  sourced: boolean;
  /** bytes read and not yet taken by a request */
  pending: Uint8Array;
  searched: number;
  /** a request is being answered: until its answer is all in the kernel's hands */
  busy: boolean;
  /** the answer is all made and waits for the visitor to read it: progress re-arms the timer */
  flushing: boolean;
  /** the connection is passed on to Bun.serve behind, until a request of the front's own */
  relay: Connection | undefined;
  /** a relay handed back, its connection behind kept for the next request passed on */
  parked: Connection | undefined;
  /** bytes of our answers the socket did not take yet */
  backlog: Uint8Array[];
  drained: (() => void) | undefined;
  /** the answer being made broke off: the connection ends after it */
  closeAfter: boolean;
  closed: boolean;
  signal: VisitorSignal | undefined;
  /** the streamed answer being written, cancelled (its backend connection closed) if they leave */
  streaming: { cancel(): Promise<void> } | undefined;
  /** when the armed idle timer is due (performance.now()); see `arm` */
  idleDue: number;
  /** a small body's head is in and its bytes are not all: when to stop waiting for them */
  bodyWait: Timer | undefined;
}

/** The visitor's leaving, for AnswerWait: a signal without an AbortController's cost. */
class VisitorSignal implements AbortLike {
  aborted = false;
  private listener: EventListenerObject | undefined;
  addEventListener(_type: "abort", listener: EventListenerObject): void {
    this.listener = listener;
  }
  removeEventListener(): void {
    this.listener = undefined;
  }
  abort(): void {
    if (this.aborted) return;
    this.aborted = true;
    const listener = this.listener;
    this.listener = undefined;
    listener?.handleEvent(new Event("abort"));
  }
}

/** A request this front answers, as forward() reads it. */
class OwnVisit implements Visit {
  readonly method: string;
  readonly headers: RequestFields;
  readonly http10: boolean;
  constructor(
    request: OwnRequest,
    readonly signal: VisitorSignal,
    readonly socket: Socket<Visitor>,
    readonly close: boolean,
    readonly body: Uint8Array | null,
  ) {
    this.method = request.method;
    this.headers = request.fields;
    this.http10 = request.http10;
  }
}

export interface OwnFrontSettings {
  hostname: string;
  port: number;
  /** the Bun.serve listener behind, on 127.0.0.1, for everything passed on */
  innerPort: () => number | undefined;
  idleTimeoutS: number;
  deps: ForwardDeps;
  log: (line: string) => void;
  /** HTTPS: this one certificate (Bun.listen takes one, with no SNI list) */
  tls?: { cert: string; key: string };
  /** set when a listener with a newer certificate has taken over: answers then close */
  retiring?: Retiring;
  /** the process's connections, counted here; past its limits a connection is turned away */
  connections?: ConnectionBudget;
  /**
   * Behind another front on loopback (the PROXY protocol's, which counts the connections): the
   * visitor's address it was told for a connection from its port, as Bun.serve asks it.
   */
  sourceBefore?: (peerPort: number) => string | undefined;
  /**
   * Every connection passes, from its first byte, to the listener behind, which reads what it
   * carries — plain HTTP beside HTTPS (redirects, ACME), or TLS for several certificates (SNI,
   * which Bun.listen lacks): the front is there to count the connections Bun.serve cannot.
   */
  passing?: "http" | "tls";
}

/**
 * The public HTTP listener on Bun.listen: plain HTTP/1.1 requests for the app, bodiless or with
 * a small body all here (the bulk of a site's traffic), are read, forwarded and answered here,
 * without Bun.serve's Request and Response objects; anything else (a large, chunked or slow
 * body, an upgrade, the proxy's own paths, a refusal,
 * whatever is odd) passes the connection, from that request on, to the Bun.serve listener
 * behind it on loopback, which answers as it always has and learns the visitor's address from
 * `sourceOf`. Keep-alive and pipelining are served in order; the idle timeout runs only while
 * the connection waits for a request.
 */
export class OwnFront {
  private readonly sources = new Map<number, string>();
  private readonly listener: TCPSocketListener<Visitor>;
  private readonly open = new Set<Socket<Visitor>>();
  private readonly answering: Answering<OwnVisit, Promise<void> | undefined>;
  private stopped = false;
  private stopping: (() => void) | undefined;
  /** when a connection was last passed to the listener behind (performance.now()) */
  lastPassAt = Number.NEGATIVE_INFINITY;
  /** how long a connection behind may have been parked and still be used again */
  private readonly reuseWithinMs: number;

  constructor(private readonly settings: OwnFrontSettings) {
    this.reuseWithinMs = Math.max(0, settings.idleTimeoutS * 1000 - REUSE_MARGIN_MS);
    this.answering = { idle: () => undefined, answer: (...a) => this.answer(...a) };
    const options: Bun.TCPSocketListenOptions<Visitor> & { reusePort: boolean } = {
      hostname: settings.hostname,
      port: settings.port,
      reusePort: true,
      ...(settings.tls ? { tls: settings.tls } : {}),
      socket: {
        open: (socket) => {
          const peer = socket.remoteAddress;
          const admission = settings.connections?.admit(peer) ?? "admitted";
          socket.data = newVisitor(peer, settings.sourceBefore === undefined);
          if (admission !== "admitted") {
            this.turnAway(socket, admission);
            return;
          }
          this.open.add(socket);
          arm(socket, settings.idleTimeoutS);
        },
        data: (socket, bytes) => this.read(socket, bytes),
        drain: (socket) => this.drain(socket),
        timeout: (socket) => {
          const visitor = socket.data;
          if (visitor === undefined) {
            socket.terminate();
            return;
          }
          if (visitor.relay) return;
          const left = visitor.idleDue - performance.now();
          if (left > 0) {
            socket.timeout(Math.ceil(left / 1000));
            return;
          }
          // waiting for a request, or for a visitor who stopped reading their answer
          if (visitor.flushing) socket.terminate();
          else if (!visitor.busy) socket.end();
        },
        close: (socket) => this.closed(socket),
        error: (socket) => this.closed(socket),
        // without a handshake handler Bun 1.4 never fires the idle timer of a TLS connection
        // that has not finished its handshake: a stranger could hold sockets open for good
        ...(settings.tls ? { handshake: () => undefined } : {}),
      },
    };
    this.listener = Bun.listen<Visitor>(options);
  }

  get port(): number {
    return this.listener.port;
  }

  /** The visitor's address behind a loopback connection from this front, if one is known. */
  sourceOf(innerPeerPort: number): string | undefined {
    return this.sources.get(innerPeerPort);
  }

  /**
   * Stops accepting; every connection closes after its next answer (with `Connection: close`),
   * an idle one after STOP_GRACE_S without a request. Resolves once every connection this front answers on has closed;
   * those passed on close with the listener behind.
   */
  stop(): Promise<void> {
    this.stopped = true;
    this.listener.stop();
    // closing an idle keep-alive connection at once races the request its client is sending
    // on it (a reset for them): such a request is answered, with Connection: close, and a
    // connection that sends none is closed by its timer
    for (const socket of this.open) {
      if (!socket.data.busy && !socket.data.relay) arm(socket, STOP_GRACE_S);
      // idle behind: closed now, as the listener behind stops
      if (socket.data.parked) dropParked(socket.data.parked, this.sources);
      socket.data.parked = undefined;
    }
    if (this.ownCount() === 0) return Promise.resolve();
    return new Promise((resolve) => {
      this.stopping = resolve;
    });
  }

  /** Connections close after their answer: the front stops, or a newer certificate's took over. */
  private get closing(): boolean {
    return this.stopped || this.settings.retiring?.now === true;
  }

  /** The connections passed on to Bun.serve behind and still open. */
  get passedOpen(): number {
    return this.sources.size;
  }

  /** Stopped, with no connection of its own or passed on left. */
  get done(): boolean {
    return this.stopped && this.open.size === 0 && this.sources.size === 0;
  }

  private ownCount(): number {
    let count = 0;
    for (const socket of this.open) if (!socket.data.relay) count++;
    return count;
  }

  private read(socket: Socket<Visitor>, bytes: Uint8Array): void {
    const visitor = socket.data;
    if (visitor === undefined) {
      socket.terminate();
      return;
    }
    if (visitor.relay) {
      fromVisitor(visitor.relay, bytes, socket);
      return;
    }
    if (visitor.closed) return;
    // at the first bytes, not at the accept: the front before tells its address as it sends them
    if (!visitor.sourced) {
      visitor.sourced = true;
      visitor.peer = this.settings.sourceBefore?.(socket.remotePort) ?? visitor.peer;
    }
    // Bun hands each read its own buffer: it is kept as it is
    visitor.pending = visitor.pending.length ? concat(visitor.pending, bytes) : bytes;
    if (this.settings.passing) {
      this.pass(socket);
      return;
    }
    // held for after the answer, up to a point: past it the visitor is not read
    if (visitor.pending.length > MAX_PIPELINED) socket.pause();
    this.next(socket);
  }

  /** Takes the next request off the connection, if a whole head is there. */
  private next(socket: Socket<Visitor>): void {
    const visitor = socket.data;
    if (visitor.busy || visitor.relay || visitor.closed) return;
    if (visitor.pending.length === 0) return;
    const read = readRequestHead(visitor.pending, visitor.searched);
    if (read.kind === "more") {
      visitor.searched = Math.max(0, visitor.pending.length - 3);
      return;
    }
    if (
      read.kind === "pass" ||
      refusalOf(read.method, "http", read.host, false, this.settings.deps.settings.sites)
    ) {
      const fault =
        read.kind === "pass"
          ? (requestLineFault(visitor.pending) ??
            headSizeFault(visitor.pending) ??
            fieldFault(visitor.pending) ??
            authorityFault(visitor.pending))
          : undefined;
      if (fault) this.refuseHead(socket, fault);
      else this.pass(socket);
      return;
    }
    const end = read.size + read.body;
    if (visitor.pending.length < end) {
      this.awaitBody(socket);
      return;
    }
    if (visitor.bodyWait) {
      clearTimeout(visitor.bodyWait);
      visitor.bodyWait = undefined;
    }
    const body = read.body > 0 ? visitor.pending.subarray(read.size, end) : null;
    visitor.pending = visitor.pending.subarray(end);
    visitor.searched = 0;
    visitor.busy = true;
    socket.timeout(0);
    void this.serve(socket, read, body);
  }

  /**
   * A small body's head is here and not all its bytes: they are waited for a moment
   * (BODY_WAIT_MS), then the request is passed on with what came of it, and Bun.serve waits
   * for the rest as for any body it reads.
   */
  private awaitBody(socket: Socket<Visitor>): void {
    const visitor = socket.data;
    if (visitor.bodyWait) return;
    // the request has come: the idle timer, for a connection waiting for one, no longer runs
    socket.timeout(0);
    visitor.bodyWait = setTimeout(() => {
      visitor.bodyWait = undefined;
      if (!visitor.busy && !visitor.relay && !visitor.closed && visitor.pending.length > 0) {
        this.pass(socket);
      }
    }, BODY_WAIT_MS);
  }

  private async serve(
    socket: Socket<Visitor>,
    request: OwnRequest,
    body: Uint8Array | null,
  ): Promise<void> {
    const visitor = socket.data;
    const signal = new VisitorSignal();
    visitor.signal = signal;
    const visit = new OwnVisit(request, signal, socket, request.close, body);
    try {
      await forward(visit, request.target, this.answering, visitor.peer, this.settings.deps);
    } catch (error) {
      // forward() answers every fault itself; this is a bug, and the connection cannot go on
      this.settings.log(`an answer to ${visitor.peer} failed: ${(error as Error).message}`);
      visitor.closeAfter = true;
    }
    visitor.signal = undefined;
    // the next request is taken only once this answer is written: a visitor who does not read
    // costs one answer's bytes, however many they asked for
    if (visitor.backlog.length && !visitor.closed) {
      visitor.flushing = true;
      arm(socket, this.settings.idleTimeoutS);
      await new Promise<void>((resolve) => {
        visitor.drained = resolve;
      });
      visitor.flushing = false;
    }
    visitor.busy = false;
    if (visitor.closed) return;
    if (request.close || visitor.closeAfter || this.closing) {
      socket.end();
      return;
    }
    arm(socket, this.settings.idleTimeoutS);
    if (visitor.pending.length <= MAX_PIPELINED) socket.resume();
    this.next(socket);
  }

  private answer(
    visit: OwnVisit,
    status: number,
    fields: [string, string][],
    body: AnswerBody,
    passed?: ResponseHead,
  ): Promise<void> | undefined {
    const { socket } = visit;
    // a stop that came while the backend was asked still closes this connection after it
    const close = visit.close || this.closing;
    const visitor = socket.data;
    if (visitor.closed) {
      if (body instanceof ReadableStream) body.cancel().catch(() => undefined);
      return undefined;
    }
    const { bytes, framing, inlined } = answerHead(
      visit.method,
      status,
      fields,
      passed,
      body,
      close,
      ONE_WRITE,
      Date.now(),
      visit.http10,
    );
    this.write(socket, bytes);
    // a stream of no known length to HTTP/1.0 ends with the connection
    if (framing === "raw-stream") visitor.closeAfter = true;
    if (inlined) return undefined;
    if (framing === "whole") this.write(socket, body as Uint8Array);
    if (framing === "none" || framing === "whole") {
      if (body instanceof ReadableStream) body.cancel().catch(() => undefined);
      return undefined;
    }
    return this.pump(socket, body as ReadableStream<Uint8Array>, framing === "chunked-stream");
  }

  /** A streamed answer, written as the visitor takes it; a stream cut short ends the connection. */
  private async pump(
    socket: Socket<Visitor>,
    body: ReadableStream<Uint8Array>,
    chunked: boolean,
  ): Promise<void> {
    const visitor = socket.data;
    const reader = body.getReader();
    visitor.streaming = reader;
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (visitor.closed) {
          reader.cancel().catch(() => undefined);
          return;
        }
        if (done) break;
        if (value.length === 0) continue;
        if (chunked) this.write(socket, Buffer.from(`${value.length.toString(16)}\r\n`));
        const flowing = this.write(socket, value);
        if (chunked) this.write(socket, CRLF);
        if (!flowing || visitor.backlog.length) {
          await new Promise<void>((resolve) => {
            visitor.drained = resolve;
          });
        }
      }
      if (chunked) this.write(socket, LAST_CHUNK);
    } catch {
      // the backend's answer broke off: without its last chunk the visitor sees it as cut
      visitor.closeAfter = true;
    } finally {
      visitor.streaming = undefined;
    }
  }

  /** Writes or queues `bytes`; false when the socket is backed up. */
  private write(socket: Socket<Visitor>, bytes: Uint8Array): boolean {
    const visitor = socket.data;
    if (visitor.closed) return true;
    return writeOrQueue(socket, visitor.backlog, bytes);
  }

  private drain(socket: Socket<Visitor>): void {
    const visitor = socket.data;
    if (visitor === undefined) return;
    if (visitor.relay) {
      flush(socket, visitor.relay.outer, visitor.relay.innerSocket);
      return;
    }
    // the visitor is reading: the idle timer starts again
    if (visitor.flushing) arm(socket, this.settings.idleTimeoutS);
    if (!flushBacklog(socket, visitor.backlog)) return;
    const drained = visitor.drained;
    visitor.drained = undefined;
    drained?.();
  }

  /**
   * A request line, head size or field Bun.serve would answer with a bare status or none: answered
   * here with a sentence, logged and counted as its refusals are, and the connection closed
   * after it.
   */
  private refuseHead(socket: Socket<Visitor>, fault: HeadFault): void {
    const visitor = socket.data;
    const { log, metrics } = this.settings.deps;
    log.line(`${fault.status} to ${visitor.peer}: ${fault.reason}`);
    metrics.refused(fault.status);
    visitor.busy = true;
    visitor.pending = EMPTY;
    socket.timeout(0);
    const body = encoder.encode(`${fault.reason}\n`);
    const requestId = crypto.randomUUID();
    const fields: [string, string][] = [
      ["content-type", "text/plain; charset=utf-8"],
      ["x-request-id", requestId],
    ];
    // nothing of a head that could not be read is trusted enough to be logged but its status
    this.settings.deps.access?.add({
      at: Date.now(),
      status: fault.status,
      method: "-",
      target: "-",
      host: null,
      ms: 0,
      bytes: body.length,
      track: "-",
      backend: "-",
      visitor: visitor.peer,
      requestId,
      userAgent: null,
    });
    const { bytes } = answerHead("GET", fault.status, fields, undefined, body, true, ONE_WRITE);
    if (this.write(socket, bytes) || visitor.closed) {
      socket.end();
      return;
    }
    // the rest in the backlog: the connection ends once the visitor has taken it, or is cut
    // when they do not read it within idle_timeout
    visitor.flushing = true;
    visitor.drained = () => socket.end();
    arm(socket, this.settings.idleTimeoutS);
  }

  /**
   * A connection over the process's limits: refused before it costs more than its file, with a
   * sentence where it can be read (plain HTTP; over TLS it would cost a handshake first), and
   * closed at once, whatever it sends; logged and counted as refusals are. A client that sent
   * its request already may see the close before the sentence.
   */
  private turnAway(socket: Socket<Visitor>, admission: Exclude<Admission, "admitted">): void {
    const { connections, deps, tls, passing } = this.settings;
    const { status, reason } = refusalFor(admission, (connections as ConnectionBudget).limits);
    const visitor = socket.data;
    visitor.closed = true;
    deps.log.line(`${status} to ${visitor.peer}: a connection turned away: ${reason}`);
    deps.metrics.refused(status);
    if (tls || passing === "tls") {
      socket.terminate();
      return;
    }
    const fields: [string, string][] = [["content-type", "text/plain; charset=utf-8"]];
    if (status === 503) fields.push(["retry-after", "1"]);
    const body = encoder.encode(`${reason}\n`);
    socket.write(answerHead("GET", status, fields, undefined, body, true, ONE_WRITE).bytes);
    socket.end();
  }

  /**
   * From this request on, the connection is Bun.serve's, relayed byte for byte; a request
   * pipelined behind one whose answer is not over waits for it (PipelineGate), as Bun.serve
   * would close the connection on both. Once the answers are over, a request this front
   * answers itself takes the connection back (a GET after a POST): Bun.serve and the relay
   * cost a request about twice what the front does (docs/benchmarks.md, "Session 63").
   */
  private pass(socket: Socket<Visitor>): void {
    const visitor = socket.data;
    this.lastPassAt = performance.now();
    const parked = visitor.parked;
    visitor.parked = undefined;
    // Bun.serve may close an idle connection up to 4 s before its idle timeout: one parked
    // near that is let go rather than written to as it closes (a request lost)
    if (parked && performance.now() - parked.parkedAt <= this.reuseWithinMs && unparks(parked)) {
      const pending = visitor.pending;
      visitor.relay = parked;
      visitor.pending = EMPTY;
      socket.timeout(0);
      unpark(parked, pending, socket);
      this.checkStopped();
      return;
    }
    if (parked) dropParked(parked, this.sources);
    // over TLS passed on (several certificates) the front cannot read the requests to hold them
    const gate =
      this.settings.passing === "tls"
        ? undefined
        : new PipelineGate(
            MAX_PIPELINED,
            this.settings.passing ? undefined : (head) => this.owns(socket, head),
          );
    const relay = newConnection(gate, () => this.takeBack(socket));
    visitor.relay = relay;
    const first = (gate ? gate.fromVisitor(visitor.pending) : visitor.pending).slice();
    visitor.pending = EMPTY;
    socket.timeout(0);
    void connectInner(socket, relay, {
      port: this.settings.innerPort(),
      source: visitor.peer,
      first,
      sources: this.sources,
      log: this.settings.log,
    });
    this.checkStopped();
  }

  /**
   * Whether this front answers the request `bytes` start with on a passed connection: one it
   * would take on a connection of its own, its body (if any) all here, once every byte of the
   * answers before it is written.
   */
  private owns(socket: Socket<Visitor>, bytes: Uint8Array): boolean {
    const relay = socket.data.relay;
    if (!relay || relay.outer.queued.length > 0 || relay.inner.queued.length > 0) return false;
    if (this.closing || socket.data.closed) return false;
    const read = readRequestHead(bytes);
    return (
      read.kind === "own" &&
      bytes.length >= read.size + read.body &&
      !refusalOf(read.method, "http", read.host, false, this.settings.deps.settings.sites)
    );
  }

  /** The connection is this front's again, from the request the gate handed back. */
  private takeBack(socket: Socket<Visitor>): void {
    const visitor = socket.data;
    const relay = visitor.relay;
    const back = relay?.gate?.back;
    if (!relay || back === undefined || visitor.closed) return;
    park(relay);
    visitor.parked = relay;
    visitor.relay = undefined;
    visitor.pending = back;
    visitor.searched = 0;
    arm(socket, this.settings.idleTimeoutS);
    if (visitor.pending.length <= MAX_PIPELINED) socket.resume();
    this.next(socket);
  }

  private closed(socket: Socket<Visitor>): void {
    const visitor = socket.data;
    // under load Bun may report a TLS socket closed before `open` gave it its data
    if (visitor === undefined || visitor.closed) return;
    visitor.closed = true;
    this.open.delete(socket);
    this.settings.connections?.release(visitor.peer);
    visitor.signal?.abort();
    // a quiet stream (server-sent events) would otherwise hold its backend connection until
    // its next bytes
    visitor.streaming?.cancel().catch(() => undefined);
    const drained = visitor.drained;
    visitor.drained = undefined;
    drained?.();
    if (visitor.bodyWait) clearTimeout(visitor.bodyWait);
    visitor.bodyWait = undefined;
    const relay = visitor.relay;
    if (relay) relayClosed(relay, relay.innerSocket, relay.inner, this.sources);
    if (visitor.parked) dropParked(visitor.parked, this.sources);
    this.checkStopped();
  }

  private checkStopped(): void {
    if (this.stopping && this.ownCount() === 0) {
      const resolve = this.stopping;
      this.stopping = undefined;
      resolve();
    }
  }
}

function newVisitor(peer: string, sourced: boolean): Visitor {
  return {
    peer,
    sourced,
    pending: EMPTY,
    searched: 0,
    busy: false,
    flushing: false,
    relay: undefined,
    parked: undefined,
    backlog: [],
    drained: undefined,
    closeAfter: false,
    closed: false,
    signal: undefined,
    streaming: undefined,
    idleDue: 0,
    bodyWait: undefined,
  };
}

/**
 * Arms the idle timer for `seconds`. Bun's socket timers tick every 4 s, so a timer fires up
 * to 4 s early (measured: a 2 s timeout set just before a tick fired after 76 ms), which would
 * cut a connection opened a moment before the tick ahead of its first request or its TLS
 * hello; the timeout handler arms again for what is left until `idleDue` has passed.
 */
function arm(socket: Socket<Visitor>, seconds: number): void {
  socket.data.idleDue = performance.now() + seconds * 1000;
  socket.timeout(seconds);
}

const CRLF = new Uint8Array([13, 10]);
const LAST_CHUNK = new Uint8Array([48, 13, 10, 13, 10]);

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}
