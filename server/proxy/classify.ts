/** A request the proxy answers itself, never sending it to a backend. */
export interface Refusal {
  status: 400 | 405 | 421;
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

/** The name a Host field gives, as a site's name is written: lower case, no port, no final dot. */
export function hostName(host: string): string {
  return host.replace(/:\d*$/, "").toLowerCase().replace(/\.$/, "");
}

/** How many Host fields as sent (their case, ports) a SiteNames remembers as good. */
const REMEMBERED_HOSTS = 64;

/**
 * The names a proxy serves (`proxy.tls.domains`), matched as visitors write them: any case, any
 * port, a final dot. The Host fields that matched are remembered, up to a bound a stranger
 * cannot push memory past, so the usual request costs one lookup.
 */
export class SiteNames {
  private readonly names: ReadonlySet<string>;
  private readonly good = new Set<string>();

  constructor(domains: readonly string[]) {
    this.names = new Set(domains.map((domain) => domain.toLowerCase()));
  }

  serves(host: string): boolean {
    if (this.good.has(host)) return true;
    if (!this.names.has(hostName(host))) return false;
    if (this.good.size < REMEMBERED_HOSTS) this.good.add(host);
    return true;
  }

  /** The names, for a sentence: the first few. */
  describe(): string {
    const names = [...this.names];
    return names.length > 3 ? `${names.slice(0, 3).join(", ")}, …` : names.join(", ");
  }
}

/** The refusal of a Host that names a site this proxy does not serve. */
export function misdirected(sites: SiteNames): Refusal {
  return {
    status: 421,
    reason: `The Host field names a site this proxy does not serve; it serves ${sites.describe()}.`,
  };
}

/**
 * Why a request cannot be routed, or undefined when it can. `url` is what Bun hands over:
 * absolute (`http://host/path`) when the Host field was usable, relative otherwise. With
 * `sites`, a request for any other name is refused (421), as kamal-proxy and Heroku's router
 * route by name: the app never sees a Host a stranger made up.
 */
export function refusalOf(
  method: string,
  url: string,
  host: string | null,
  bodyOnGet: boolean,
  sites?: SiteNames,
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
  if (sites && !sites.serves(host)) return misdirected(sites);
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
