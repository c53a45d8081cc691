import type { Socket, TCPSocketListener } from "bun";
import { type Admission, type ConnectionBudget, refusalFor } from "./connections.ts";
import { readProxyHeader } from "./proxy-protocol.ts";
import { type Connection, connectInner, flush, newConnection, relayClosed, send } from "./relay.ts";

/** How long a connection may take to send its first bytes (the header, or the request). */
const HEADER_TIMEOUT_S = 10;

interface Relay extends Connection {
  /** bytes read before the header was decided */
  head: Uint8Array;
  decided: boolean;
  /** the address this connection is counted under in the budget, until it closes */
  counted: string | undefined;
}

export interface FrontSettings {
  hostname: string;
  port: number;
  /** the listener behind it, on the loopback address; read per connection (it may change) */
  innerPort: () => number | undefined;
  /** whether a header from this peer is believed */
  isTrusted: (address: string) => boolean;
  log: (line: string) => void;
  /** the process's connections: counted under the peer, then under the visitor a header names */
  connections?: ConnectionBudget;
  /** a connection turned away, with the status it would have had */
  refused?: (status: number) => void;
  /** share the port with other processes (the proxy's workers, a handover); default true */
  reusePort?: boolean;
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
  /** when a connection was last passed to the listener behind (performance.now()) */
  lastPassAt = Number.NEGATIVE_INFINITY;

  constructor(private readonly settings: FrontSettings) {
    // reusePort works for Bun.listen as for Bun.serve (workers share the port); bun-types 1.4
    // declare it for connect only
    const options: Bun.TCPSocketListenOptions<Relay> & { reusePort: boolean } = {
      hostname: settings.hostname,
      port: settings.port,
      reusePort: settings.reusePort ?? true,
      socket: {
        open: (socket) => {
          const peer = socket.remoteAddress;
          socket.data = {
            ...newConnection(),
            head: new Uint8Array(0),
            decided: false,
            counted: undefined,
          };
          if (!this.count(socket, peer)) return;
          socket.timeout(HEADER_TIMEOUT_S);
        },
        data: (socket, bytes) => this.fromOuter(socket, bytes),
        drain: (socket) => flush(socket, socket.data.outer, socket.data.innerSocket),
        timeout: (socket) => {
          if (!socket.data.decided) socket.end();
        },
        close: (socket) => this.closed(socket),
        error: (socket) => this.closed(socket),
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

  /** The connections passed on to the listener behind and still open. */
  get passedOpen(): number {
    return this.sources.size;
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
    const source = header.kind === "header" ? (header.source ?? peer) : peer;
    if (source !== peer) {
      // the load balancer's connection is the visitor's from here on, and counts as theirs
      this.uncount(relay);
      if (!this.count(socket, source)) return;
    }
    const rest = header.kind === "header" ? head.subarray(header.length) : head;
    this.lastPassAt = performance.now();
    void connectInner(socket, socket.data, {
      port: this.settings.innerPort(),
      source,
      first: rest,
      sources: this.sources,
      log: this.settings.log,
    });
  }

  /** Counts the connection under `address`; false when it was turned away instead. */
  private count(socket: Socket<Relay>, address: string): boolean {
    const { connections } = this.settings;
    if (!connections) return true;
    const admission = connections.admit(address);
    if (admission === "admitted") {
      socket.data.counted = address;
      return true;
    }
    this.turnAway(socket, address, admission, connections);
    return false;
  }

  private uncount(relay: Relay): void {
    if (relay.counted === undefined) return;
    this.settings.connections?.release(relay.counted);
    relay.counted = undefined;
  }

  /** Over the process's limits: closed without a word, as what follows may be TLS. */
  private turnAway(
    socket: Socket<Relay>,
    address: string,
    admission: Exclude<Admission, "admitted">,
    connections: ConnectionBudget,
  ): void {
    const { status, reason } = refusalFor(admission, connections.limits, connections.holder);
    this.settings.log(`${status} to ${address}: a connection turned away: ${reason}`);
    this.settings.refused?.(status);
    socket.data.decided = true;
    socket.end();
  }

  private closed(socket: Socket<Relay>): void {
    const relay = socket.data;
    this.uncount(relay);
    relayClosed(relay, relay.innerSocket, relay.inner, this.sources);
  }

  private refuse(socket: Socket<Relay>, what: string): void {
    this.settings.log(`closed a connection from ${socket.remoteAddress}: it sent ${what}`);
    socket.data.decided = true;
    socket.end();
  }
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  if (a.length === 0) return b.slice();
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}
