/** The proxy's routing table and canary, as plain data. */

export type Track = "production" | "staging";
export const TRACKS: readonly Track[] = ["production", "staging"];

export interface Backend {
  /** short and stable: shown in `x-dropship-backend` and metrics */
  id: string;
  url: string;
  track: Track;
  /** draining backends get no new requests; in-flight ones finish */
  draining: boolean;
}

export interface Canary {
  /** percent of clients sent to staging while active */
  weight: number;
  state: "active" | "aborted";
  /** why it was last aborted or resumed */
  reason: string;
  /** changes with every new canary release, so each one draws its own share of clients */
  generation: string;
}

export interface Alert {
  id: string;
  /** the host or component that raised it */
  source: string;
  role: string;
  summary: string;
  since: string;
  /** an alert that takes staging out of the rotation */
  canary: boolean;
}

export const DEFAULT_CANARY: Canary = { weight: 30, state: "active", reason: "", generation: "1" };

export function parseBackend(json: string): Backend | undefined {
  const value = parseObject(json);
  if (
    value &&
    typeof value.id === "string" &&
    typeof value.url === "string" &&
    (value.track === "production" || value.track === "staging")
  ) {
    return { id: value.id, url: value.url, track: value.track, draining: value.draining === true };
  }
  return undefined;
}

export function parseCanary(
  json: string | undefined,
  fallbackWeight = DEFAULT_CANARY.weight,
): Canary {
  const value = json ? parseObject(json) : undefined;
  return {
    weight: typeof value?.weight === "number" ? value.weight : fallbackWeight,
    state: value?.state === "aborted" ? "aborted" : "active",
    reason: typeof value?.reason === "string" ? value.reason : "",
    generation:
      typeof value?.generation === "string" ? value.generation : DEFAULT_CANARY.generation,
  };
}

export function parseAlert(json: string): Alert | undefined {
  const value = parseObject(json);
  if (value && typeof value.id === "string") {
    return {
      id: value.id,
      source: String(value.source ?? ""),
      role: String(value.role ?? ""),
      summary: String(value.summary ?? ""),
      since: String(value.since ?? ""),
      canary: value.canary === true,
    };
  }
  return undefined;
}

function parseObject(json: string): Record<string, unknown> | undefined {
  try {
    const value = JSON.parse(json);
    return value && typeof value === "object" && !Array.isArray(value) ? value : undefined;
  } catch {
    return undefined;
  }
}

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

export function weightError(weight: unknown): string | undefined {
  if (typeof weight === "number" && Number.isInteger(weight) && weight >= 0 && weight <= 100)
    return undefined;
  return `weight ${JSON.stringify(weight)} is not valid — give a whole percentage from 0 to 100`;
}
