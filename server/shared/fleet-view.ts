import type { RoleName } from "./config/schema.ts";
import type { Backend } from "./routing/model.ts";
import type { HostReport } from "./state/hosts.ts";

/** A host as the GitOps inventory records it. */
export interface FleetHostRecord {
  name: string;
  role: RoleName;
  dropletId: number;
  /** the address dropship reaches it at: in the VPC where there is one */
  address: string;
  /** its public address, where that differs (the proxy's is the public entry) */
  publicAddress?: string;
  region: string;
  size: string;
  /** the release it runs, once one was delivered */
  release?: string;
  created: string;
}

/** What the proxy says of one backend (GET /_dropship/status). */
export interface ProxyBackend {
  id: string;
  healthy: boolean;
  reason: string | null;
  version: string | null;
  inFlight: number;
}

export interface FleetRow {
  host: string;
  role: string;
  address: string;
  release: string;
  rotation: string;
  health: string;
  inFlight: string;
  cpu: string;
  memory: string;
  seen: string;
}

export interface FleetFacts {
  /** the GitOps inventory's hosts (none when the fleet is not managed there) */
  inventory: FleetHostRecord[];
  reports: HostReport[];
  backends: Backend[];
  /** the proxy's live view, when it could be asked */
  proxy?: ProxyBackend[];
  now: number;
}

const hostOf = (url: string) => {
  try {
    return new URL(url).hostname;
  } catch {
    return url;
  }
};

/**
 * One row per host, joining what each source knows: the inventory (role, address, release),
 * the monitors (CPU, memory, when last heard), the routing table (in rotation or draining)
 * and the proxy (health, in-flight). A host one source lacks shows "-" there, never a guess.
 */
export function fleetRows(facts: FleetFacts): FleetRow[] {
  const rows = new Map<string, FleetRow>();
  const blank = (host: string): FleetRow => ({
    host,
    role: "-",
    address: "-",
    release: "-",
    rotation: "-",
    health: "-",
    inFlight: "-",
    cpu: "-",
    memory: "-",
    seen: "-",
  });
  const row = (host: string) => {
    const known = rows.get(host);
    if (known) return known;
    const fresh = blank(host);
    rows.set(host, fresh);
    return fresh;
  };
  for (const h of facts.inventory) {
    Object.assign(row(h.name), { role: h.role, address: h.address, release: h.release ?? "-" });
  }
  for (const r of facts.reports) {
    Object.assign(row(r.host), {
      ...(row(r.host).role === "-" ? { role: r.role } : {}),
      ...(row(r.host).address === "-" && r.address ? { address: r.address } : {}),
      release: r.release || row(r.host).release,
      cpu: `${r.cpu.toFixed(0)}%`,
      memory: `${r.memory.toFixed(0)}%`,
      seen: `${Math.max(0, Math.round((facts.now - r.at) / 1000))} s ago`,
    });
  }
  const byAddress = new Map([...rows.values()].map((r) => [r.address, r]));
  for (const b of facts.backends) {
    const target = byAddress.get(hostOf(b.url)) ?? row(b.id);
    if (target.role === "-") target.role = b.track;
    target.rotation = b.draining ? "draining" : "in rotation";
    const live = facts.proxy?.find((p) => p.id === b.id);
    if (live) {
      target.health = live.healthy ? "healthy" : `down (${live.reason ?? "no answer"})`;
      target.inFlight = String(live.inFlight);
      if (live.version) target.release = live.version;
    }
  }
  const order = ["proxy", "redis", "production", "staging"];
  return [...rows.values()].sort(
    (a, b) =>
      ((order.indexOf(a.role) + 5) % 5) - ((order.indexOf(b.role) + 5) % 5) ||
      a.host.localeCompare(b.host),
  );
}

/** One proxy's admin listener, as `bun run status` asks it. */
export interface AdminTarget {
  /** the proxy host's name, when the inventory says which proxies there are */
  name?: string;
  origin: string;
}

/**
 * Where to ask for the proxies' view: every proxy host of the inventory, at its address on
 * the admin port — with several proxies each has its own in-flight requests, and a dead one's
 * address in DASHBOARD_URL would leave the view empty. The scheme and port are DASHBOARD_URL's
 * when it is set, else the admin port (DROPSHIP_ADMIN_PORT, else 9090) over HTTPS when the
 * site has it. Without proxies in the inventory: DASHBOARD_URL's origin, or PROXY_URL's host on
 * the admin port (the admin API is not served where visitors come). Nothing when neither says.
 */
export function adminTargets(
  env: Record<string, string | undefined>,
  inventory: readonly FleetHostRecord[],
  https: boolean,
  adminPort: number,
): AdminTarget[] {
  const named = parsed(env.DASHBOARD_URL);
  const port = named?.port || env.DROPSHIP_ADMIN_PORT || String(adminPort);
  const scheme = named?.protocol ?? (https ? "https:" : "http:");
  const proxies = inventory.filter((h) => h.role === "proxy");
  if (proxies.length > 0)
    return proxies.map((h) => ({ name: h.name, origin: `${scheme}//${h.address}:${port}` }));
  if (named) return [{ origin: named.origin }];
  const entry = parsed(env.PROXY_URL);
  return entry ? [{ origin: `${entry.protocol}//${entry.hostname}:${port}` }] : [];
}

function parsed(text: string | undefined): URL | undefined {
  if (!text) return undefined;
  try {
    return new URL(text);
  } catch {
    return undefined;
  }
}

/**
 * The proxies' views as one: a backend's requests in flight are the sum over the proxies, and
 * it is down when any proxy finds it so (that proxy's visitors are not sent there).
 */
export function combineProxyViews(views: readonly (readonly ProxyBackend[])[]): ProxyBackend[] {
  const byId = new Map<string, ProxyBackend>();
  for (const view of views)
    for (const backend of view) {
      const seen = byId.get(backend.id);
      if (!seen) {
        byId.set(backend.id, { ...backend });
        continue;
      }
      seen.inFlight += backend.inFlight;
      seen.version ??= backend.version;
      if (seen.healthy && !backend.healthy)
        Object.assign(seen, { healthy: false, reason: backend.reason });
    }
  return [...byId.values()];
}
