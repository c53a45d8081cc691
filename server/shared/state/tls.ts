import type Redis from "ioredis";

/**
 * Certificates, ACME challenges and the issuing lock in Redis. The keys sit outside
 * `dropship:*`, which every monitor may read: the proxy user reads the certificates and
 * challenges, only the control user reads the rest (state/acl.ts).
 */
export const TLS_KEYS = {
  /** hash: domain → JSON StoredCertificate */
  certificates: "tls:certificates",
  /** hash: domain → JSON RenewalStatus, the issuer's bookkeeping */
  status: "tls:status",
  /** string with a TTL: an HTTP-01 token's key authorization */
  challenge: (token: string) => `tls:challenge:${token}`,
  /** string with a TTL: who issues now (one control process at a time) */
  lock: "tls:lock",
  /** string: the ACME account's private key (PEM) */
  account: "tls:account",
  /** hash: ACME directory URL → the account's URL there */
  accountUrls: "tls:account-urls",
  /** pub/sub: a domain whose certificate changed */
  changed: "tls:changed",
} as const;

export interface StoredCertificate {
  /** PEM chain, leaf first */
  cert: string;
  key: string;
  notAfter: string;
  issuedAt: string;
  issuer: string;
}

export interface RenewalStatus {
  /** failed attempts since the last success */
  failures: number;
  lastError?: string;
  /** when the next attempt may be made (backoff) */
  nextAttemptAt?: string;
  /** the expiry a warning mail went out for (once per certificate) */
  warnedFor?: string;
}

export async function readCertificates(redis: Redis): Promise<Map<string, StoredCertificate>> {
  const raw = await redis.hgetall(TLS_KEYS.certificates);
  return new Map(
    Object.entries(raw).map(([domain, json]) => [domain, JSON.parse(json) as StoredCertificate]),
  );
}

/** Stores a domain's certificate and tells every proxy. */
export async function putCertificate(
  redis: Redis,
  domain: string,
  stored: StoredCertificate,
): Promise<void> {
  await redis.hset(TLS_KEYS.certificates, domain, JSON.stringify(stored));
  await redis.publish(TLS_KEYS.changed, domain);
}

export async function readStatuses(redis: Redis): Promise<Map<string, RenewalStatus>> {
  const raw = await redis.hgetall(TLS_KEYS.status);
  return new Map(
    Object.entries(raw).map(([domain, json]) => [domain, JSON.parse(json) as RenewalStatus]),
  );
}

export async function putStatus(redis: Redis, domain: string, status: RenewalStatus) {
  await redis.hset(TLS_KEYS.status, domain, JSON.stringify(status));
}

export async function putChallenge(redis: Redis, token: string, answer: string, ttlMs: number) {
  await redis.set(TLS_KEYS.challenge(token), answer, "PX", ttlMs);
}

export async function removeChallenge(redis: Redis, token: string) {
  await redis.del(TLS_KEYS.challenge(token));
}

export function readChallenge(redis: Redis, token: string): Promise<string | null> {
  return redis.get(TLS_KEYS.challenge(token));
}

/**
 * Runs `work` holding the issuing lock, or answers undefined at once when another process
 * holds it. The lock expires by itself if its holder dies; it is released only by its holder.
 */
export async function withIssuingLock<T>(
  redis: Redis,
  ttlMs: number,
  work: () => Promise<T>,
): Promise<T | undefined> {
  const holder = crypto.randomUUID();
  if ((await redis.set(TLS_KEYS.lock, holder, "PX", ttlMs, "NX")) !== "OK") return undefined;
  try {
    return await work();
  } finally {
    await redis.eval(
      "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0",
      1,
      TLS_KEYS.lock,
      holder,
    );
  }
}
