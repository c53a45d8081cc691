import type { Socket } from "bun";
import { flushBacklog, writeOrQueue } from "../backlog.ts";
import { CHUNKED_LINE, fieldSize, writeField, writeLatin1 } from "../field-names.ts";
import { passedSize, type UpstreamHead, writePassed } from "../headers.ts";
import { AnswerReader, type UpstreamAnswer } from "./answer.ts";

export type { UpstreamAnswer } from "./answer.ts";

/**
 * Why a request got no answer. `connect`: nothing was sent, so any request may go to another
 * backend. `reset`: the request went out on a connection that then failed before an answer;
 * only a repeatable request may be tried again. `malformed`: the backend answered, wrongly.
 */
export class UpstreamFault extends Error {
  constructor(
    message: string,
    readonly kind: "connect" | "reset" | "malformed" | "cancelled",
    /** it happened on a kept-alive connection, which the backend may just have closed */
    readonly reused = false,
  ) {
    super(message);
  }
}

export interface Origin {
  hostname: string;
  port: number;
  /** what Host says when the visitor's is not forwarded */
  host: string;
}

export interface UpstreamRequest {
  method: string;
  /** origin-form: path and query */
  target: string;
  /** the header lines (../headers.ts upstreamHead) */
  head: UpstreamHead;
  /** streamed as it comes, or (a small body the front read whole) written with the head */
  body: ReadableStream<Uint8Array> | Uint8Array | null;
}

/**
 * A request's body on its way to the backend: what it waits on (the backend while connecting
 * or not reading, the visitor while their next bytes have not come), and when it last moved
 * (performance.now()). Once it has gone out whole, `movedAt` is when it did.
 */
export interface Upload {
  waitingOn: "visitor" | "backend" | "done";
  movedAt: number;
}

export interface Exchange {
  answer: Promise<UpstreamAnswer>;
  /** the request's body, while there is one */
  readonly upload: Upload | undefined;
  /** gives up on the request: the connection is closed */
  cancel(reason: string): void;
  /** the reason of the first cancel, if there was one */
  cancelledBecause: string | undefined;
}

export interface ClientSettings {
  connectTimeoutMs: number;
  /** idle keep-alive connections kept per backend */
  maxIdle?: number;
  /** an idle connection is closed after this, before the backend's own timeout closes it */
  idleMs?: number;
}

interface Connection {
  socket: Socket<Connection> | undefined;
  key: string;
  reader: AnswerReader | undefined;
  /** bytes the socket did not take yet, written on drain */
  backlog: Uint8Array[];
  drained: (() => void) | undefined;
  closed: boolean;
  idleSince: number;
  /** the request's body has been written whole */
  sent: boolean;
  /** the answer has been read whole and the connection may carry another */
  reusable: boolean;
  onClose: ((reason: string) => void) | undefined;
}

const encoder = new TextEncoder();

/**
 * An HTTP/1.1 client for the proxy's backends on Bun.connect: keep-alive pools per backend,
 * a connect timeout, request bodies streamed with backpressure, answers read strictly
 * (./head.ts, ./chunked.ts). Next to fetch() it spends less per request and says whether a
 * failed request was sent at all, which decides whether it may go to another backend.
 */
export class UpstreamClient {
  private readonly idle = new Map<string, Connection[]>();
  private readonly maxIdle: number;
  private readonly idleMs: number;
  private readonly sweeper: ReturnType<typeof setInterval>;

  constructor(private readonly settings: ClientSettings) {
    this.maxIdle = settings.maxIdle ?? 256;
    this.idleMs = settings.idleMs ?? 4000;
    // every second, or twice within a shorter idle time, so none is kept much past it
    this.sweeper = setInterval(
      () => this.closeIdle(performance.now()),
      Math.min(1000, this.idleMs / 2),
    );
    this.sweeper.unref();
  }

  send(origin: Origin, request: UpstreamRequest): Exchange {
    let cancelled: string | undefined;
    let connection: Connection | undefined;
    let reader: AnswerReader | undefined;
    const upload: Upload | undefined =
      request.body === null || request.body instanceof Uint8Array
        ? undefined
        : { waitingOn: "backend", movedAt: performance.now() };
    const answer = new Promise<UpstreamAnswer>((resolve, reject) => {
      const start = (conn: Connection, reused: boolean) => {
        connection = conn;
        if (cancelled !== undefined) {
          this.destroy(conn);
          reject(new UpstreamFault(cancelled, "cancelled"));
          return;
        }
        reader = this.exchange(conn, origin, request, reused, resolve, reject, upload);
      };
      const idle = this.takeIdle(`${origin.hostname}:${origin.port}`);
      if (idle) start(idle, true);
      else this.open(origin).then((conn) => start(conn, false), reject);
    });
    const exchange: Exchange = {
      answer,
      upload,
      cancelledBecause: undefined,
      cancel: (reason) => {
        cancelled = reason;
        exchange.cancelledBecause ??= reason;
        // only while the connection is still this request's: it may carry another by now
        if (connection && connection.reader === reader && reader !== undefined) {
          this.destroy(connection);
        }
      },
    };
    return exchange;
  }

  /** Idle connections closed, and no new ones kept. */
  close(): void {
    clearInterval(this.sweeper);
    for (const list of this.idle.values()) for (const conn of list) this.destroy(conn);
    this.idle.clear();
  }

  private exchange(
    conn: Connection,
    origin: Origin,
    request: UpstreamRequest,
    reused: boolean,
    resolve: (answer: UpstreamAnswer) => void,
    reject: (fault: UpstreamFault) => void,
    progress: Upload | undefined,
  ): AnswerReader {
    let answered = false;
    conn.sent = false;
    conn.reusable = false;
    const reader = new AnswerReader(
      request.method,
      {
        pause: () => conn.socket?.pause(),
        resume: () => conn.socket?.resume(),
        destroy: () => this.destroy(conn),
      },
      {
        answer: (answer) => {
          answered = true;
          resolve(answer);
        },
        fault: (reason, malformed) => {
          // settled before the connection goes, whose close would say only "reset"
          reject(new UpstreamFault(reason, malformed ? "malformed" : "reset", reused));
          this.destroy(conn);
        },
        finished: (reusable) => {
          conn.reader = undefined;
          // an answer that ends before the request's body was sent whole leaves it half-read
          conn.reusable = reusable && conn.sent;
          if (!conn.sent) this.destroy(conn);
          else this.release(conn);
        },
      },
    );
    conn.reader = reader;
    conn.onClose = (reason) => {
      reader.end(reason);
      if (!answered) reject(new UpstreamFault(reason, "reset", reused));
    };
    const { head, body } = request;
    if (body instanceof Uint8Array) {
      write(conn, requestHead(request, origin, false, body));
      conn.sent = true;
      return reader;
    }
    const chunked = body !== null && !head.hasLength;
    write(conn, requestHead(request, origin, chunked));
    if (body === null || progress === undefined) {
      conn.sent = true;
      return reader;
    }
    this.upload(conn, body, chunked, progress).then(
      () => {
        conn.sent = true;
        this.release(conn);
      },
      (error: Error) => {
        // the visitor's upload broke off: the backend must not take a partial body as whole
        this.destroy(conn);
        if (!answered)
          reject(new UpstreamFault(`the request body broke off: ${error.message}`, "cancelled"));
      },
    );
    return reader;
  }

  private async upload(
    conn: Connection,
    body: ReadableStream<Uint8Array>,
    chunked: boolean,
    progress: Upload,
  ) {
    const reader = body.getReader();
    for (;;) {
      progress.waitingOn = "visitor";
      const { done, value } = await reader.read();
      progress.movedAt = performance.now();
      if (conn.closed) {
        reader.cancel().catch(() => undefined);
        return;
      }
      if (done) break;
      if (value.length === 0) continue;
      const ok = chunked
        ? write(conn, encoder.encode(`${value.length.toString(16)}\r\n`)) &&
          write(conn, value) &&
          write(conn, encoder.encode("\r\n"))
        : write(conn, value);
      if (!ok) {
        progress.waitingOn = "backend";
        await new Promise<void>((resolve) => (conn.drained = resolve));
        progress.movedAt = performance.now();
      }
    }
    if (chunked) write(conn, encoder.encode("0\r\n\r\n"));
    progress.waitingOn = "done";
  }

  private release(conn: Connection): void {
    if (conn.closed || conn.reader || !conn.sent) return;
    if (!conn.reusable) {
      this.destroy(conn);
      return;
    }
    conn.onClose = undefined;
    let list = this.idle.get(conn.key);
    if (!list) {
      list = [];
      this.idle.set(conn.key, list);
    }
    if (list.length >= this.maxIdle) {
      this.destroy(conn);
      return;
    }
    conn.idleSince = performance.now();
    list.push(conn);
  }

  private takeIdle(key: string): Connection | undefined {
    const list = this.idle.get(key);
    if (!list) return undefined;
    for (;;) {
      const conn = list.pop();
      if (!conn) return undefined;
      if (!conn.closed) return conn;
    }
  }

  private open(origin: Origin): Promise<Connection> {
    const conn: Connection = {
      socket: undefined,
      key: `${origin.hostname}:${origin.port}`,
      reader: undefined,
      backlog: [],
      drained: undefined,
      closed: false,
      idleSince: 0,
      sent: false,
      reusable: false,
      onClose: undefined,
    };
    const { connectTimeoutMs } = this.settings;
    return new Promise<Connection>((resolve, reject) => {
      const timer = setTimeout(() => {
        conn.closed = true;
        conn.socket?.end();
        reject(
          new UpstreamFault(
            `no connection within ${connectTimeoutMs} ms (proxy.connect_timeout)`,
            "connect",
          ),
        );
      }, connectTimeoutMs);
      Bun.connect<Connection>({
        hostname: origin.hostname,
        port: origin.port,
        data: conn,
        socket: HANDLERS,
      }).then(
        (socket) => {
          clearTimeout(timer);
          conn.socket = socket;
          if (conn.closed) {
            socket.end();
            return;
          }
          resolve(conn);
        },
        (error: Error) => {
          clearTimeout(timer);
          conn.closed = true;
          reject(new UpstreamFault(error.message || "connection refused", "connect"));
        },
      );
    });
  }

  private destroy(conn: Connection): void {
    if (conn.closed) return;
    conn.closed = true;
    conn.socket?.terminate();
    gone(conn, "the connection was closed");
  }

  private closeIdle(now: number): void {
    for (const list of this.idle.values()) {
      for (let i = list.length - 1; i >= 0; i--) {
        const conn = list[i] as Connection;
        if (conn.closed || now - conn.idleSince > this.idleMs) {
          list.splice(i, 1);
          this.destroy(conn);
        }
      }
    }
  }
}

/**
 * The request's head as bytes: its line, the visitor's fields kept from their own bytes, then
 * the fields the proxy wrote. Header values are bytes (obs-text is Latin-1), and ASCII is the
 * same either way: strings are written a byte a character (../field-names.ts writeLatin1).
 * A `whole` body follows in the same bytes, with a Content-Length of its size when the
 * visitor's fields gave none.
 */
export function requestHead(
  request: UpstreamRequest,
  origin: Origin,
  chunked: boolean,
  whole?: Uint8Array,
): Uint8Array {
  const { head, method, target } = request;
  const { fields, passed } = head;
  const length = whole && !head.hasLength ? String(whole.length) : undefined;
  let size = method.length + target.length + REQUEST_LINE_SIZE + 2 + (whole?.length ?? 0);
  if (length !== undefined) size += fieldSize("content-length", length);
  if (!head.hasHost) size += fieldSize("host", origin.host);
  if (passed) size += passedSize(passed);
  for (let i = 0; i < fields.length; i += 2) {
    size += fieldSize(fields[i] as string, fields[i + 1] as string);
  }
  if (chunked) size += CHUNKED_LINE.length;
  const bytes = new Uint8Array(size);
  let at = writeLatin1(bytes, 0, method);
  bytes[at++] = 32;
  at = writeLatin1(bytes, at, target);
  at = writeLatin1(bytes, at, REQUEST_LINE_END);
  if (!head.hasHost) at = writeField(bytes, at, "host", origin.host);
  if (passed) at = writePassed(passed, bytes, at);
  for (let i = 0; i < fields.length; i += 2) {
    at = writeField(bytes, at, fields[i] as string, fields[i + 1] as string);
  }
  if (length !== undefined) at = writeField(bytes, at, "content-length", length);
  if (chunked) at = writeLatin1(bytes, at, CHUNKED_LINE);
  bytes[at++] = 13;
  bytes[at++] = 10;
  if (whole) bytes.set(whole, at);
  return bytes;
}

const REQUEST_LINE_END = " HTTP/1.1\r\n";
/** the request line's bytes besides its method and target */
const REQUEST_LINE_SIZE = 1 + REQUEST_LINE_END.length;

/** Writes or queues `bytes`; false when the socket is backed up (wait for drain). */
function write(conn: Connection, bytes: Uint8Array): boolean {
  if (conn.closed || !conn.socket) return true;
  return writeOrQueue(conn.socket, conn.backlog, bytes);
}

function flush(conn: Connection): void {
  if (conn.socket && !flushBacklog(conn.socket, conn.backlog)) return;
  const drained = conn.drained;
  conn.drained = undefined;
  drained?.();
}

function gone(conn: Connection, reason: string): void {
  conn.closed = true;
  const onClose = conn.onClose;
  conn.onClose = undefined;
  const drained = conn.drained;
  conn.drained = undefined;
  drained?.();
  onClose?.(reason);
}

const HANDLERS = {
  data(socket: Socket<Connection>, chunk: Uint8Array) {
    const conn = socket.data;
    if (conn.reader) conn.reader.feed(chunk);
    // bytes no request asked for: nothing more on this connection can be trusted
    else if (!conn.closed) {
      conn.closed = true;
      socket.terminate();
    }
  },
  drain(socket: Socket<Connection>) {
    flush(socket.data);
  },
  close(socket: Socket<Connection>, error?: Error) {
    gone(
      socket.data,
      error?.message
        ? `the backend reset the connection (${error.message})`
        : "the backend closed the connection",
    );
  },
  error(socket: Socket<Connection>, error: Error) {
    gone(socket.data, `the connection failed (${error.message})`);
  },
  connectError() {
    // reported through Bun.connect's promise
  },
};
