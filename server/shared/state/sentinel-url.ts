/**
 * How a client finds the fleet's Redis when Sentinel watches it: a URL that names the user,
 * the primary's Sentinel name and database, and the Sentinels to ask, e.g.
 *
 *   redis-sentinel://proxy:PASSWORD@dropship/0?sentinels=10.78.0.14:26379,10.78.0.12:26379&sentinel_password=S
 *
 * It stays a WHATWG URL (the Sentinels are in the query), so masking the password works as for
 * redis:// URLs; the Sentinels' own password is masked by `maskUrl` too.
 */
export interface SentinelTarget {
  username: string;
  password: string;
  /** the name Sentinel knows the primary by */
  name: string;
  db: number;
  sentinels: { host: string; port: number }[];
  /** the Sentinels' requirepass */
  sentinelPassword: string;
}

export const SENTINEL_SCHEME = "redis-sentinel:";

export function isSentinelUrl(url: string): boolean {
  return url.startsWith(`${SENTINEL_SCHEME}//`);
}

/** The URL's parts, or an error that names what is wrong with it. */
export function parseSentinelUrl(text: string): SentinelTarget {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new Error("a redis-sentinel:// URL that is not a URL");
  }
  if (url.protocol !== SENTINEL_SCHEME) throw new Error(`not a ${SENTINEL_SCHEME}// URL`);
  const sentinels = (url.searchParams.get("sentinels") ?? "")
    .split(",")
    .filter(Boolean)
    .map((hostPort) => {
      const at = hostPort.lastIndexOf(":");
      const host = at > 0 ? hostPort.slice(0, at) : hostPort;
      const port = at > 0 ? Number(hostPort.slice(at + 1)) : 26379;
      if (!host || !Number.isInteger(port) || port < 1 || port > 65535)
        throw new Error(`redis-sentinel:// URL: ${hostPort} is not host:port`);
      return { host, port };
    });
  if (sentinels.length === 0)
    throw new Error("redis-sentinel:// URL: no sentinels= list of host:port to ask");
  const name = decodeURIComponent(url.hostname);
  if (!name)
    throw new Error("redis-sentinel:// URL: no primary name (redis-sentinel://user:pass@NAME/0)");
  const db = Number(url.pathname.slice(1) || 0);
  if (!Number.isInteger(db) || db < 0)
    throw new Error("redis-sentinel:// URL: the database is not a number");
  return {
    username: decodeURIComponent(url.username),
    password: decodeURIComponent(url.password),
    name,
    db,
    sentinels,
    sentinelPassword: url.searchParams.get("sentinel_password") ?? "",
  };
}

export function sentinelUrl(target: SentinelTarget): string {
  const url = new URL(`${SENTINEL_SCHEME}//${encodeURIComponent(target.name)}/${target.db}`);
  url.username = target.username;
  url.password = target.password;
  url.searchParams.set("sentinels", target.sentinels.map((s) => `${s.host}:${s.port}`).join(","));
  if (target.sentinelPassword) url.searchParams.set("sentinel_password", target.sentinelPassword);
  return url.toString();
}
