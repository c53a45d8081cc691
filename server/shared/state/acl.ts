import type { RoleName } from "../config/schema.ts";
import { KEYS } from "./keys.ts";
import { TLS_KEYS } from "./tls.ts";

/**
 * A Redis user per role, with only the commands and keys that role needs (Redis ACLs). The
 * rules are written here once: setup hands them to the Redis host as its ACL file, scaling
 * adds and removes a host's monitor user with ACL SETUSER / DELUSER, and the playbooks give
 * each host the URLs of its own users only. `default` is off.
 *
 * Passwords: the control user's is DROPSHIP_REDIS_PASSWORD itself; every other user's is
 * derived from it (SHA-256 of password:user), so the control host can always say it again and
 * nothing more has to be kept. The ACL file holds only hashes of them.
 */

export interface RedisUserHost {
  name: string;
  role: RoleName;
}

const ALL = `${KEYS.flags.split(":")[0]}:*`; // dropship:*
const CHANGE_KEYS = [KEYS.version, KEYS.audit]; // what every audited change writes
// every client: connect, say who it is, read INFO (ioredis's ready check)
const CONNECT = ["+@connection", "+info", "+client|setname"];

/** The users a fleet of these hosts needs. */
export function redisUsers(hosts: readonly RedisUserHost[]): string[] {
  return [
    "control",
    "proxy",
    "app-production",
    "app-staging",
    ...SERVER_USERS,
    ...hosts.map(monitorUser),
  ];
}

/**
 * The users Redis and Sentinel need of each other: a replica copies the primary as `replica`,
 * Sentinel watches and reconfigures the servers as `sentinel`. No client gets their URLs.
 */
export const SERVER_USERS = ["replica", "sentinel"] as const;

export const monitorUser = (host: { name: string }) => `monitor-${host.name}`;
export const appUser = (track: "production" | "staging") => `app-${track}`;

/**
 * What a user may do, as ACL rules (after `reset`). The connection commands come last: rules
 * apply in order, and `-@dangerous` would otherwise take INFO away again.
 */
export function aclRules(user: string): string[] {
  const rules = roleRules(user);
  return user === "control" || (SERVER_USERS as readonly string[]).includes(user)
    ? rules
    : [...rules, ...CONNECT];
}

function roleRules(user: string): string[] {
  if (user === "control") return ["~*", "&*", "+@all"];
  // what Redis's documentation gives replication and Sentinel, and nothing else
  if (user === "replica") return ["-@all", "+psync", "+replconf", "+ping"];
  if (user === "sentinel")
    return [
      "-@all",
      "&*",
      "+multi",
      "+slaveof",
      "+ping",
      "+exec",
      "+subscribe",
      "+config|rewrite",
      "+role",
      "+publish",
      "+info",
      "+client|setname",
      "+client|kill",
      "+script|kill",
    ];
  const readWrite = (keys: string[]) => keys.map((key) => `%RW~${key}`);
  const common = ["-@all", `&${KEYS.events}`];
  if (user === "proxy")
    return [
      ...common,
      `%R~${ALL}`,
      // certificates and challenge answers to serve; the ACME account and the lock are control's
      `%R~${TLS_KEYS.certificates}`,
      `%R~${TLS_KEYS.challenge("*")}`,
      `&${TLS_KEYS.changed}`,
      ...readWrite([KEYS.flags, KEYS.canary, KEYS.alerts, KEYS.traffic, ...CHANGE_KEYS]),
      "+@read",
      "+@write",
      "+@scripting",
      "+@pubsub",
      "-@dangerous",
    ];
  if (user === "app-production" || user === "app-staging")
    return [
      // its own data, and the flags to read; it may listen for changes, never announce one
      ...common,
      "~app:*",
      `%R~${KEYS.flags}`,
      "+@read",
      "+@write",
      "+@transaction",
      "+subscribe",
      "+unsubscribe",
      "-@dangerous",
    ];
  if (user.startsWith("monitor-")) {
    const host = user.slice("monitor-".length);
    return [
      ...common,
      `%R~${ALL}`,
      // its own host's figures only; alerts and the canary, as any monitor may raise them
      ...readWrite([KEYS.host(host), KEYS.history(host), KEYS.alerts, KEYS.canary, ...CHANGE_KEYS]),
      "+@read",
      "+@write",
      "+@scripting",
      "+@pubsub",
      "-@dangerous",
    ];
  }
  throw new Error(`no Redis user ${user}`);
}

export function redisPasswordFor(master: string, user: string): string {
  return user === "control" ? master : sha256(`${master}:${user}`);
}

/** ACL SETUSER's arguments for a user: reset, on, its password's hash, its rules. */
export function aclSetUser(master: string, user: string): string[] {
  return [user, "reset", "on", `#${sha256(redisPasswordFor(master, user))}`, ...aclRules(user)];
}

/**
 * `default` is off, so no connection can use it (it has no password to give, and a connection
 * is never given it unasked); but it keeps every right. Redis replays the append-only file as
 * `default` and, at each EXEC, checks the transaction against that user's rights: a `default`
 * without them drops every transaction in the file without a word on a restart — every change
 * made by a script (flags, routing, the canary, the audit) and the app's MULTIs (redis/redis
 * #14541, fixed after the 7.0 Debian ships).
 */
export const DEFAULT_USER = "user default off ~* &* +@all";

/** The ACL file of the Redis host: every user of the fleet, `default` off. */
export function aclFile(master: string, hosts: readonly RedisUserHost[]): string {
  const lines = [
    DEFAULT_USER,
    ...redisUsers(hosts).map(
      (u) =>
        `user ${aclSetUser(master, u)
          .filter((w) => w !== "reset")
          .join(" ")}`,
    ),
  ];
  return `${lines.join("\n")}\n`;
}

/** Whether a Redis URL is the control user's, i.e. the fleet's Redis runs with these ACLs. */
export function usesAcl(url: string): boolean {
  return new URL(url).username === "control";
}

/** The URL of each user, from the control user's: same host, port and database. */
export function redisUrls(
  controlUrl: string,
  hosts: readonly RedisUserHost[],
): Record<string, string> {
  const master = decodeURIComponent(new URL(controlUrl).password);
  return Object.fromEntries(
    redisUsers(hosts)
      .filter((user) => !(SERVER_USERS as readonly string[]).includes(user))
      .map((user) => {
        const url = new URL(controlUrl);
        url.username = user;
        url.password = redisPasswordFor(master, user);
        return [user, url.toString()];
      }),
  );
}

const sha256 = (text: string) => new Bun.CryptoHasher("sha256").update(text).digest("hex");
