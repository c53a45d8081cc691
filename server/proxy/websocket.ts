import type { Server, ServerWebSocket } from "bun";
import { MAINTENANCE_FIELDS } from "../shared/routing/maintenance.ts";
import {
  chooseBackend,
  type ForwardDeps,
  overRateSaid,
  plainAnswer,
  rateWait,
  sentenceBytes,
  setVisitorCookies,
} from "./forward.ts";
import { cookieValue, requestIdOf, upstreamHeaders, visitorAddress } from "./headers.ts";
import type { Member, Pool } from "./pool.ts";
import { pathStart } from "./reserved.ts";

/**
 * Bytes a tunnel holds for a side that does not read, either way, before it is cut off: the
 * largest message Bun.serve takes from a visitor (its maxPayloadLength), so no one message
 * trips it. Neither side can be paused (Bun.serve's WebSocket and the WebSocket client read
 * whatever comes), so without it a visitor who reads nothing, or who floods a slow backend,
 * held the proxy's memory: 63 MiB sat in one tunnel's client buffer in a trial, and Bun.serve
 * silently dropped every message past its own 16 MiB, keeping the connection.
 */
export const TUNNEL_BUFFER = 16 * 1024 * 1024;

/** One visitor's WebSocket joined to one to its backend. */
export interface Tunnel {
  member: Member;
  /** the visitor's address, for the log */
  peer: string;
  upstream: WebSocket;
  client?: ServerWebSocket<Tunnel>;
  /** messages from the backend that arrived before the visitor's side was open */
  early: (string | ArrayBuffer)[];
  closing: boolean;
}

/** Fields the WebSocket client makes its own for the handshake to the backend. */
const HANDSHAKE = ["sec-websocket-key", "sec-websocket-version", "sec-websocket-extensions"];

export function isWebSocketUpgrade(request: Request): boolean {
  const upgrade = request.headers.get("upgrade");
  return upgrade !== null && upgrade.toLowerCase() === "websocket" && request.method === "GET";
}

/**
 * Opens the backend's side first, so a backend that refuses the handshake gets the visitor a
 * 502 rather than a socket that closes at once; then upgrades the visitor's connection.
 */
export async function openTunnel(
  request: Request,
  server: Server<Tunnel>,
  peer: string,
  deps: ForwardDeps,
): Promise<Response | undefined> {
  const { settings } = deps;
  const requestId = requestIdOf(request.headers);
  const url = request.url;
  const started = performance.now();
  /** the access log's line for the handshake's answer */
  const told = (status: number, track: string, backend: string, bytes: number | null) =>
    deps.access?.add({
      at: Date.now(),
      status,
      method: "GET",
      target: url.slice(pathStart(url)),
      host: request.headers.get("host"),
      ms: performance.now() - started,
      bytes,
      track,
      backend,
      visitor,
      requestId,
      userAgent: request.headers.get("user-agent"),
    });
  const peerTrusted = settings.isTrusted(peer);
  const visitor = peerTrusted
    ? visitorAddress(peer, request.headers.get("x-forwarded-for"), settings.isTrusted)
    : peer;
  const waitS = rateWait(deps, peer, peerTrusted, visitor, started);
  if (waitS > 0) {
    const said = overRateSaid(deps, visitor, waitS);
    told(429, "-", "-", sentenceBytes(said));
    return plainAnswer(429, said, requestId, { "retry-after": String(waitS) });
  }
  const maintenance = deps.routing.maintenance;
  if (maintenance) {
    told(503, "production", "maintenance", maintenance.page.length);
    return new Response(maintenance.page, {
      status: 503,
      headers: [...MAINTENANCE_FIELDS, ["x-request-id", requestId]],
    });
  }
  const cookie = request.headers.get("cookie");
  const knownClient = cookieValue(cookie, "dropship_client");
  const clientId = knownClient ?? crypto.randomUUID();
  const { track, member } = chooseBackend(deps.routing, clientId);
  if (!member) {
    const said = `No healthy ${track} backend is available right now.`;
    told(503, track, "none", sentenceBytes(said));
    return plainAnswer(503, said, requestId, {
      "x-dropship-track": track,
    });
  }
  // a copy: upstreamHeaders edits in place, and the upgrade below still needs the originals
  const headers = upstreamHeaders(new Headers(request.headers), {
    peer,
    peerTrusted: settings.isTrusted(peer),
    forwardHost: settings.forwardHost,
    requestId,
    clientId,
    track,
    isAdminCredential: settings.isAdminCredential,
    https: settings.https,
  });
  for (const name of HANDSHAKE) headers.delete(name);
  const protocols = headers.get("sec-websocket-protocol");
  headers.delete("sec-websocket-protocol");
  const target = `${member.backend.url.replace(/^http/, "ws")}${url.slice(pathStart(url))}`;
  const upstream = new WebSocket(target, {
    headers: Object.fromEntries(headers),
    protocols: protocols ? protocols.split(",").map((p) => p.trim()) : [],
  } as unknown as string[]);
  upstream.binaryType = "arraybuffer";
  const tunnel: Tunnel = { member, peer, upstream, early: [], closing: false };
  upstream.addEventListener("message", (event) => {
    if (tunnel.closing) return;
    const data = event.data as string | ArrayBuffer;
    const { client } = tunnel;
    if (!client) {
      // the visitor's side opens as the upgrade is answered, a moment after the backend's
      tunnel.early.push(data);
      return;
    }
    client.send(data);
    if (client.getBufferedAmount() > TUNNEL_BUFFER) cutOff(tunnel, "visitor", deps.log);
  });
  const opened = await new Promise<boolean>((resolve) => {
    const timer = setTimeout(() => resolve(false), settings.responseTimeoutMs);
    upstream.addEventListener("open", () => resolve(true), { once: true });
    upstream.addEventListener("error", () => resolve(false), { once: true });
    upstream.addEventListener("close", () => resolve(false), { once: true });
    request.signal.addEventListener("abort", () => resolve(false), { once: true });
    void timer;
  });
  if (!opened) {
    upstream.close();
    deps.log.line(`502 WebSocket to ${member.backend.id}: the backend refused the upgrade`);
    const said = `The ${track} backend ${member.backend.id} refused the WebSocket.`;
    told(502, track, member.backend.id, sentenceBytes(said));
    return plainAnswer(502, said, requestId, { "x-dropship-track": track });
  }
  upstream.addEventListener("close", (event) => {
    if (tunnel.closing) return;
    tunnel.closing = true;
    tunnel.client?.close(sendable(event.code), event.reason);
  });
  const answer = new Headers({
    "x-dropship-track": track,
    "x-dropship-backend": member.backend.id,
    "x-request-id": requestId,
  });
  if (upstream.protocol) answer.set("sec-websocket-protocol", upstream.protocol);
  setVisitorCookies(answer, cookie, knownClient, clientId, track, settings.https);
  member.inFlight++;
  if (!server.upgrade(request, { data: tunnel, headers: answer })) {
    member.inFlight--;
    upstream.close(1011);
    const said = "The WebSocket upgrade could not be completed.";
    told(400, track, member.backend.id, sentenceBytes(said));
    return plainAnswer(400, said, requestId);
  }
  // what goes through the tunnel is not known at its handshake
  told(101, track, member.backend.id, null);
  return undefined;
}

/**
 * Ends a tunnel one side of which has let TUNNEL_BUFFER wait: that side at once (a close frame
 * would only queue behind what it does not read), the other with a reason.
 */
function cutOff(tunnel: Tunnel, slow: "visitor" | "backend", log: { line(text: string): void }) {
  if (tunnel.closing) return;
  tunnel.closing = true;
  const { member, peer } = tunnel;
  const mib = TUNNEL_BUFFER / 1024 / 1024;
  if (slow === "visitor") {
    log.line(`closed the WebSocket of ${peer}: it read nothing while ${mib} MiB waited for it`);
    tunnel.client?.terminate();
    tunnel.upstream.close(1001, "the visitor stopped reading");
  } else {
    log.line(
      `closed the WebSocket of ${peer}: ${member.backend.id} read nothing while ${mib} MiB waited for it`,
    );
    terminate(tunnel.upstream);
    tunnel.client?.close(1013, "the backend is not keeping up; try again later");
  }
}

/** Bun's WebSocket client can drop its connection without a close frame; the standard one cannot. */
function terminate(socket: WebSocket): void {
  (socket as WebSocket & { terminate(): void }).terminate();
}

/** A close code that may go on the wire (1005 and 1006 only describe a missing one). */
function sendable(code: number): number {
  return code === 1000 ||
    (code >= 1001 && code <= 1014 && code !== 1005 && code !== 1006) ||
    (code >= 3000 && code <= 4999)
    ? code
    : 1000;
}

/**
 * Every open tunnel, so that tunnels to a backend that drains or leaves the table are closed
 * with 1001 (going away) once the drain grace has passed, as a deploy would otherwise cut them.
 */
export class Tunnels {
  private readonly open = new Set<Tunnel>();

  constructor(
    private readonly drainGraceMs: number,
    private readonly log: { line(text: string): void },
  ) {}

  /** Bun.serve's WebSocket settings: its own limit a backstop behind TUNNEL_BUFFER's check. */
  readonly handlers = {
    backpressureLimit: 2 * TUNNEL_BUFFER,
    closeOnBackpressureLimit: true,
    open: (ws: ServerWebSocket<Tunnel>) => {
      const tunnel = ws.data;
      tunnel.client = ws;
      this.open.add(tunnel);
      for (const data of tunnel.early) ws.send(data);
      tunnel.early = [];
    },
    message: (ws: ServerWebSocket<Tunnel>, message: string | Buffer) => {
      const { upstream, closing } = ws.data;
      if (closing) return;
      upstream.send(message);
      if (upstream.bufferedAmount > TUNNEL_BUFFER) cutOff(ws.data, "backend", this.log);
    },
    close: (ws: ServerWebSocket<Tunnel>, code: number, reason: string) => {
      const tunnel = ws.data;
      this.open.delete(tunnel);
      tunnel.member.inFlight--;
      if (tunnel.closing) return;
      tunnel.closing = true;
      tunnel.upstream.close(sendable(code), reason);
    },
  };

  /** Closes, after the grace, the tunnels whose backend is draining or gone. */
  closeDraining(pool: Pool): void {
    for (const tunnel of this.open) {
      const { member } = tunnel;
      if (pool.get(member.backend.id) === member && !member.backend.draining) continue;
      setTimeout(() => this.goAway(tunnel), this.drainGraceMs);
    }
  }

  private goAway(tunnel: Tunnel): void {
    if (tunnel.closing) return;
    tunnel.closing = true;
    tunnel.client?.close(1001, "the backend is draining");
    tunnel.upstream.close(1001, "the proxy is draining this backend");
  }

  get size(): number {
    return this.open.size;
  }
}
