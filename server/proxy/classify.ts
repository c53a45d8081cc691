/** A request the proxy answers itself, never sending it to a backend. */
export interface Refusal {
  status: 400 | 405;
  reason: string;
  headers?: Record<string, string>;
}

const LABEL = "[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?";
/** RFC 9110 §7.2 Host: a name or IPv4 address, or a bracketed IPv6 one, and an optional port. */
const HOST = new RegExp(
  `^(?:${LABEL}(?:\\.${LABEL})*\\.?|\\[[0-9A-Fa-f:.]{2,45}\\])(?::\\d{1,5})?$`,
);

const ALLOW = "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS";

/** The last Host that passed, so the usual case of one site costs a string comparison. */
let lastGoodHost = "";

/**
 * Why a request cannot be routed, or undefined when it can. `url` is what Bun hands over:
 * absolute (`http://host/path`) when the Host field was usable, relative otherwise.
 */
export function refusalOf(
  method: string,
  url: string,
  host: string | null,
  bodyOnGet: boolean,
): Refusal | undefined {
  if (method === "CONNECT" || method === "TRACE") {
    return {
      status: 405,
      reason: `${method} is not served here: this is a reverse proxy for one web app.`,
      headers: { allow: ALLOW },
    };
  }
  if (host === null || host === "") {
    return { status: 400, reason: "The request has no Host field; send Host: <the site's name>." };
  }
  if (host !== lastGoodHost) {
    if (host.includes(",")) {
      return { status: 400, reason: "The request has more than one Host field; send exactly one." };
    }
    if (host.length > 255 || !HOST.test(host)) {
      return {
        status: 400,
        reason:
          "The Host field is not a host name with an optional port; send Host: <name>[:port].",
      };
    }
    lastGoodHost = host;
  }
  if (!url.startsWith("http")) {
    return {
      status: 400,
      reason: "The request target cannot be routed; send an origin-form path.",
    };
  }
  if (bodyOnGet) {
    return {
      status: 400,
      reason: `A body on ${method} cannot be forwarded by this proxy; send it with POST or PUT.`,
    };
  }
  return undefined;
}

/** Whether a GET or HEAD announces a body (which Bun's server would silently drop). */
export function announcesBody(method: string, headers: Headers): boolean {
  if (method !== "GET" && method !== "HEAD") return false;
  const length = headers.get("content-length");
  return (length !== null && length !== "0") || headers.has("transfer-encoding");
}

/** Go 1.25's CrossOriginProtection: why a state change looks cross-origin, or undefined. */
export function crossOriginRefusal(headers: Headers): string | undefined {
  const site = headers.get("sec-fetch-site");
  if (site !== null) {
    const value = site.trim().toLowerCase();
    if (value === "same-origin" || value === "none") return undefined;
    return `the browser sent it from another origin (Sec-Fetch-Site: ${site.slice(0, 40)})`;
  }
  const origin = headers.get("origin");
  if (origin === null) return undefined;
  const host = headers.get("host")?.toLowerCase();
  try {
    const parsed = new URL(origin);
    if (!origin.includes(",") && parsed.host.toLowerCase() === host) return undefined;
  } catch {
    // a malformed Origin is refused below
  }
  return `its Origin (${origin.slice(0, 80)}) is not this site`;
}
