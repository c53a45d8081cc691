import type { Socket, TCPSocketListener } from "bun";
import { readProxyHeader } from "./proxy-protocol.ts";

/** How long a connection may take to send its first bytes (the header, or the request). */
const HEADER_TIMEOUT_S = 10;

interface Side {
  /** bytes the socket did not take yet; the other side is paused until they are written */
  queued: Uint8Array[];
  /** the other side has closed: end this one once the queue is written */
  endWhenFlushed: boolean;
}

interface Relay {
  /** bytes read before the header was decided */
  head: Uint8Array;
  decided: boolean;
  outer: Side;
  inner: Side;
  innerSocket: Socket | undefined;
  /** the inner connection's local port, the key of its source while it lasts */
  innerPort: number | undefined;
  closed: boolean;
}

export interface FrontSettings {
  hostname: string;
  port: number;
  /** the listener behind it, on the loopback address; read per connection (it may change) */
  innerPort: () => number | undefined;
  /** whether a header from this peer is believed */
  isTrusted: (address: string) => boolean;
  log: (line: string) => void;
}

/**
 * A listener that reads the PROXY protocol and passes each connection on, byte for byte, to a
 * Bun.serve listener on the loopback address, which cannot read the protocol itself. TLS stays
 * end to end: the bytes after the header are relayed untouched. The listener behind learns the
 * visitor's address from `sourceOf(its peer's port)`.
 *
 * A header is believed only from a trusted peer (proxy.trusted_proxies: the load balancer); one
 * from anyone else is a forged address, and the connection is closed. A connection without a
 * header is passed on as it is, from any peer: the load balancer's own health checks, and
 * visitors reaching a proxy directly, keep working, under their own address.
 */
export class ProxyProtocolFront {
  private readonly sources = new Map<number, string>();
  private readonly listener: TCPSocketListener<Relay>;

  constructor(private readonly settings: FrontSettings) {
    // reusePort works for Bun.listen as for Bun.serve (workers share the port); bun-types 1.4
    // declare it for connect only
    const options: Bun.TCPSocketListenOptions<Relay> & { reusePort: boolean } = {
      hostname: settings.hostname,
      port: settings.port,
      reusePort: true,
      socket: {
        open: (socket) => {
          socket.data = {
            head: new Uint8Array(0),
            decided: false,
            outer: { queued: [], endWhenFlushed: false },
            inner: { queued: [], endWhenFlushed: false },
            innerSocket: undefined,
            innerPort: undefined,
            closed: false,
          };
          socket.timeout(HEADER_TIMEOUT_S);
        },
        data: (socket, bytes) => this.fromOuter(socket, bytes),
        drain: (socket) => flush(socket, socket.data.outer, socket.data.innerSocket),
        timeout: (socket) => {
          if (!socket.data.decided) socket.end();
        },
        close: (socket) => this.closed(socket.data, socket.data.innerSocket, socket.data.inner),
        error: (socket) => this.closed(socket.data, socket.data.innerSocket, socket.data.inner),
      },
    };
    this.listener = Bun.listen<Relay>(options);
  }

  get port(): number {
    return this.listener.port;
  }

  /** The visitor's address behind a loopback connection from this front, if one is known. */
  sourceOf(innerPeerPort: number): string | undefined {
    return this.sources.get(innerPeerPort);
  }

  /** Stops accepting; the connections passed on already go on until either side closes. */
  stop(): void {
    this.listener.stop();
  }

  private fromOuter(socket: Socket<Relay>, bytes: Uint8Array): void {
    const relay = socket.data;
    if (relay.decided) {
      send(relay.innerSocket, relay.inner, bytes, socket);
      return;
    }
    const head = concat(relay.head, bytes);
    const header = readProxyHeader(head);
    if (header.kind === "more") {
      relay.head = head;
      return;
    }
    const peer = socket.remoteAddress;
    const refusal =
      header.kind === "malformed"
        ? `a malformed PROXY header (${header.reason})`
        : header.kind === "header" && !this.settings.isTrusted(peer)
          ? "a PROXY header, but is not in proxy.trusted_proxies"
          : undefined;
    if (refusal) {
      this.refuse(socket, refusal);
      return;
    }
    relay.decided = true;
    relay.head = new Uint8Array(0);
    socket.timeout(0);
    // read on once the connection behind is open
    socket.pause();
    const source = header.kind === "header" ? (header.source ?? peer) : peer;
    const rest = header.kind === "header" ? head.subarray(header.length) : head;
    void this.connectInner(socket, source, rest);
  }

  private refuse(socket: Socket<Relay>, what: string): void {
    this.settings.log(`closed a connection from ${socket.remoteAddress}: it sent ${what}`);
    socket.data.decided = true;
    socket.end();
  }

  private async connectInner(outer: Socket<Relay>, source: string, first: Uint8Array) {
    const relay = outer.data;
    const port = this.settings.innerPort();
    if (port === undefined) return void outer.end();
    try {
      await Bun.connect({
        hostname: "127.0.0.1",
        port,
        socket: {
          open: (inner) => {
            if (relay.closed) return void inner.end();
            relay.innerSocket = inner;
            relay.innerPort = inner.localPort;
            // known before the listener behind reads a byte of the request
            this.sources.set(inner.localPort, source);
            const early = relay.inner.queued.splice(0);
            for (const bytes of [first, ...early]) send(inner, relay.inner, bytes, outer);
            // read on, unless the inner side is already backed up (its drain resumes then)
            if (relay.inner.queued.length === 0) outer.resume();
          },
          data: (inner, bytes) => send(outer, relay.outer, bytes, inner),
          drain: (inner) => flush(inner, relay.inner, outer),
          close: () => this.closed(relay, outer, relay.outer),
          error: () => this.closed(relay, outer, relay.outer),
        },
      });
    } catch {
      this.settings.log(`the listener behind port ${this.settings.port} refused a connection`);
      outer.end();
    }
  }

  /** One side closed: the other ends too, once what it was still owed is written. */
  private closed<Other>(relay: Relay, other: Socket<Other> | undefined, otherSide: Side): void {
    if (relay.closed) return;
    relay.closed = true;
    if (relay.innerPort !== undefined) this.sources.delete(relay.innerPort);
    if (!other) return;
    if (otherSide.queued.length === 0) other.end();
    else otherSide.endWhenFlushed = true;
  }
}

/**
 * Writes to `to`, queueing what it does not take and pausing `from` until it drains. Before
 * `to` exists (the inner connection still opening), bytes wait in the queue.
 */
function send<To, From>(
  to: Socket<To> | undefined,
  side: Side,
  bytes: Uint8Array,
  from: Socket<From>,
): void {
  if (bytes.length === 0) return;
  if (!to || side.queued.length > 0) {
    side.queued.push(bytes.slice());
    if (to) from.pause();
    return;
  }
  const written = to.write(bytes);
  if (written < bytes.length) {
    side.queued.push(bytes.slice(Math.max(written, 0)));
    from.pause();
  }
}

/** `to` drained: what waited goes out, and `from` reads again once nothing waits. */
function flush<To, From>(to: Socket<To>, side: Side, from: Socket<From> | undefined): void {
  while (side.queued.length > 0) {
    const bytes = side.queued[0] as Uint8Array;
    const written = to.write(bytes);
    if (written < bytes.length) {
      side.queued[0] = bytes.slice(Math.max(written, 0));
      return;
    }
    side.queued.shift();
  }
  if (side.endWhenFlushed) to.end();
  else from?.resume();
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  if (a.length === 0) return b.slice();
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}
