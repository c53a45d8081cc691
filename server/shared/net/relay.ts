import type { Socket } from "bun";

/** One direction of a relay. */
export interface Side {
  /** bytes the socket did not take yet; the other side is paused until they are written */
  queued: Uint8Array[];
  /** the other side has closed: end this one once the queue is written */
  endWhenFlushed: boolean;
}

/**
 * What may stand in a relay and hold the visitor's bytes back until the listener behind has
 * answered (../../proxy/native/pipeline-gate.ts); it changes no byte.
 */
export interface Gate {
  /** the visitor's bytes: what may go on now */
  fromVisitor(bytes: Uint8Array): Uint8Array;
  /** the listener's bytes, on their way to the visitor: what of the held may go on now */
  fromInner(bytes: Uint8Array): Uint8Array;
  /** holds more than it may: the visitor is not read meanwhile */
  readonly full: boolean;
  /** the bytes from a request the visitor's side takes back: the relay is to be parked */
  readonly back: Uint8Array | undefined;
  /** the relay is used again, from a new first request, after it was parked */
  reopen(): void;
}

/** A visitor's connection passed on, byte for byte, to a Bun.serve listener on loopback. */
export interface Connection {
  outer: Side;
  inner: Side;
  innerSocket: Socket | undefined;
  /** the inner connection's local port, the key of its source while it lasts */
  innerPort: number | undefined;
  closed: boolean;
  gate: Gate | undefined;
  /** called once the gate hands bytes back (`Gate.back`) */
  onBack: (() => void) | undefined;
  /** handed back, its connection behind kept open for the visitor's next request passed on */
  parked: boolean;
  /** when it was parked (performance.now()) */
  parkedAt: number;
}

export function newConnection(gate?: Gate, onBack?: () => void): Connection {
  return {
    outer: { queued: [], endWhenFlushed: false },
    inner: { queued: [], endWhenFlushed: false },
    innerSocket: undefined,
    innerPort: undefined,
    closed: false,
    gate,
    onBack,
    parked: false,
    parkedAt: 0,
  };
}

/**
 * Parks the relay: the visitor's side answers their requests again, and the connection behind
 * waits, idle, for the next one passed on (a POST after a GET after a POST costs no new
 * connection). Nothing it says meanwhile reaches the visitor; its close leaves them be.
 */
export function park(relay: Connection): void {
  relay.parked = true;
  relay.parkedAt = performance.now();
}

/** A parked relay's visitor is gone, or the listener behind closed it: it is over. */
export function dropParked(relay: Connection, sources: Map<number, string>): void {
  if (relay.closed) return;
  relay.closed = true;
  if (relay.innerPort !== undefined) sources.delete(relay.innerPort);
  relay.innerSocket?.end();
}

/** A parked relay whose connection behind is still open, to be taken up again. */
export function unparks(relay: Connection): boolean {
  return !relay.closed && relay.innerSocket !== undefined;
}

/**
 * A parked relay (one that `unparks`) taken up again, its gate reopened, with the visitor's
 * bytes from the request passed on.
 */
export function unpark<Outer>(relay: Connection, bytes: Uint8Array, outer: Socket<Outer>): void {
  relay.parked = false;
  relay.gate?.reopen();
  fromVisitor(relay, bytes, outer);
}

/** The visitor's bytes into the relay, through its gate if it has one. */
export function fromVisitor<Outer>(
  relay: Connection,
  bytes: Uint8Array,
  outer: Socket<Outer>,
): void {
  const gate = relay.gate;
  send(relay.innerSocket, relay.inner, gate ? gate.fromVisitor(bytes) : bytes, outer);
  if (gate?.back !== undefined) relay.onBack?.();
  else if (gate?.full) outer.pause();
}

export interface InnerSettings {
  /** the listener behind, on 127.0.0.1; undefined when there is none */
  port: number | undefined;
  /** the visitor's address, told to the listener behind through `sources` */
  source: string;
  /** bytes already read from the visitor, sent first */
  first: Uint8Array;
  /** inner connection's local port → visitor's address */
  sources: Map<number, string>;
  log: (line: string) => void;
}

/**
 * Opens the connection behind and relays both ways; the outer socket is paused until it is
 * open. The listener behind learns the visitor's address from `sources` before it reads a byte.
 */
export async function connectInner<Outer>(
  outer: Socket<Outer>,
  relay: Connection,
  settings: InnerSettings,
): Promise<void> {
  const { port, source, first, sources } = settings;
  if (port === undefined) return void outer.end();
  outer.pause();
  try {
    await Bun.connect({
      hostname: "127.0.0.1",
      port,
      socket: {
        open: (inner) => {
          if (relay.closed) return void inner.end();
          relay.innerSocket = inner;
          relay.innerPort = inner.localPort;
          sources.set(inner.localPort, source);
          const early = relay.inner.queued.splice(0);
          for (const bytes of [first, ...early]) send(inner, relay.inner, bytes, outer);
          // read on, unless the inner side is already backed up (its drain resumes then)
          if (relay.inner.queued.length === 0 && !relay.gate?.full) outer.resume();
        },
        data: (inner, bytes) => {
          // parked (or the visitor gone): nothing more of it is theirs
          if (relay.closed || relay.parked) return;
          send(outer, relay.outer, bytes, inner);
          const gate = relay.gate;
          if (!gate) return;
          const wasFull = gate.full;
          const next = gate.fromInner(bytes);
          if (next.length > 0) send(inner, relay.inner, next, outer);
          if (gate.back !== undefined) return void relay.onBack?.();
          // the visitor was not read while the gate was full
          if (wasFull && !gate.full && relay.inner.queued.length === 0) outer.resume();
        },
        // parked, the visitor's reading is the front's to pause and resume
        drain: (inner) =>
          flush(inner, relay.inner, relay.gate?.full || relay.parked ? undefined : outer),
        close: () => innerClosed(relay, outer, sources),
        error: () => innerClosed(relay, outer, sources),
      },
    });
  } catch {
    settings.log(`the listener behind (127.0.0.1:${port}) refused a connection`);
    outer.end();
  }
}

/** The connection behind closed: a parked one is only dropped, the visitor left be. */
function innerClosed<Outer>(relay: Connection, outer: Socket<Outer>, sources: Map<number, string>) {
  if (relay.parked) dropParked(relay, sources);
  else relayClosed(relay, outer, relay.outer, sources);
}

/** One side closed: the other ends too, once what it was still owed is written. */
export function relayClosed<Other>(
  relay: Connection,
  other: Socket<Other> | undefined,
  otherSide: Side,
  sources: Map<number, string>,
): void {
  if (relay.closed) return;
  relay.closed = true;
  if (relay.innerPort !== undefined) sources.delete(relay.innerPort);
  if (!other) return;
  if (otherSide.queued.length === 0) other.end();
  else otherSide.endWhenFlushed = true;
}

/**
 * Writes to `to`, queueing what it does not take and pausing `from` until it drains. Before
 * `to` exists (the inner connection still opening), bytes wait in the queue.
 */
export function send<To, From>(
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
export function flush<To, From>(to: Socket<To>, side: Side, from: Socket<From> | undefined): void {
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
