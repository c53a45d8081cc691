/** The proxy's routing table and canary, as plain data; their schemas are in schema.ts. */
import type { Static } from "@sinclair/typebox";
import { alert, backend, canary } from "../records/checks.ts";
import type { AlertRecord, BackendRecord, CanaryRecord, TrackName } from "./schema.ts";

export type Track = Static<typeof TrackName>;
export const TRACKS: readonly Track[] = ["production", "staging"];

export type Backend = Static<typeof BackendRecord>;
export type Canary = Static<typeof CanaryRecord>;
export type Alert = Static<typeof AlertRecord>;

export const DEFAULT_CANARY: Canary = { weight: 30, state: "active", reason: "", generation: "1" };

/** A backend as stored; undefined for anything that is not one (it is then ignored). */
export const parseBackend = (json: string) => backend.read(json);

/** The canary as stored, or the default canary at the configured weight. */
export function parseCanary(
  json: string | undefined,
  fallbackWeight = DEFAULT_CANARY.weight,
): Canary {
  const fallback = { ...DEFAULT_CANARY, weight: fallbackWeight };
  return canary.read(json, fallback) ?? fallback;
}

export const parseAlert = (json: string) => alert.read(json);

/** A backend id from its URL: host and port, which is what a person recognises. */
export function backendIdFor(url: string): string {
  const parsed = new URL(url);
  return parsed.port ? `${parsed.hostname}:${parsed.port}` : parsed.hostname;
}

/** Validates a backend URL given by a person; answers the fault, or undefined. */
export function backendUrlError(text: string): string | undefined {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return `${JSON.stringify(text)} is not a URL — write it like http://10.0.0.5:3000`;
  }
  if (url.protocol !== "http:")
    return `${text}: only http:// backends are supported (the proxy talks to apps on a private network)`;
  if (url.username || url.password)
    return `${url.protocol}//${url.host}: credentials do not belong in a backend URL`;
  if (url.pathname !== "/" || url.search || url.hash)
    return `${text}: give only scheme, host and port, like http://10.0.0.5:3000`;
  return undefined;
}

/**
 * Why taking backend `id` out of production's rotation (a drain, a removal, a move to staging)
 * would leave production with none in rotation, so that every production visitor gets a 503;
 * undefined when others remain or the backend takes no production traffic now. Staging may go
 * empty: its visitors fall back to production.
 */
export function emptiesProduction(backends: readonly Backend[], id: string): string | undefined {
  const serving = backends.filter((b) => b.track === "production" && !b.draining);
  if (serving.length !== 1 || serving[0]?.id !== id) return undefined;
  return `${id} is the only production backend in rotation: without it every production visitor gets a 503`;
}
