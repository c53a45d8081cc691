/** The seed's /set without parameters: a message that expires in ten seconds. */
export const DEFAULT_MESSAGE = {
  key: "message",
  value: "this message will self-destruct in 10 seconds",
  ttl: 10,
};

const KEY = /^[A-Za-z0-9_.:-]{1,64}$/;
const MAX_VALUE = 1024;
const MAX_TTL = 86_400;

export type Parsed<T> = { ok: true; value: T } | { ok: false; error: string };

export function parseKey(raw: string | undefined): Parsed<string> {
  const key = raw ?? DEFAULT_MESSAGE.key;
  return KEY.test(key)
    ? { ok: true, value: key }
    : {
        ok: false,
        error: `key ${JSON.stringify(key.slice(0, 80))} is not valid — use 1 to 64 letters, digits, dots, dashes, colons or underscores`,
      };
}

/** Query parameters of GET /set: key, value, ttl (seconds); each optional. */
export function parseSet(
  query: Record<string, string | undefined>,
): Parsed<typeof DEFAULT_MESSAGE> {
  const key = parseKey(query.key);
  if (!key.ok) return key;
  const value = query.value ?? DEFAULT_MESSAGE.value;
  if (value.length > MAX_VALUE) {
    return { ok: false, error: `value is ${value.length} characters — at most ${MAX_VALUE} fit` };
  }
  const ttlText = query.ttl ?? String(DEFAULT_MESSAGE.ttl);
  const ttl = Number(ttlText);
  if (!/^\d+$/.test(ttlText) || ttl < 1 || ttl > MAX_TTL) {
    return {
      ok: false,
      error: `ttl ${JSON.stringify(ttlText)} is not valid — give whole seconds from 1 to ${MAX_TTL}`,
    };
  }
  return { ok: true, value: { key: key.value, value, ttl } };
}

/**
 * Who the client is, for sticky flag rollouts: the proxy's `dropship_client` cookie, else an
 * explicit `x-dropship-client` header, else the first forwarded address, else the peer.
 */
export function clientIdOf(headers: Headers, peer: string | undefined): string | undefined {
  const cookie = headers.get("cookie") ?? "";
  const fromCookie = /(?:^|;\s*)dropship_client=([^;]+)/.exec(cookie)?.[1];
  if (fromCookie) return fromCookie;
  const header = headers.get("x-dropship-client");
  if (header) return header;
  const forwarded = headers.get("x-forwarded-for")?.split(",")[0]?.trim();
  return forwarded || peer;
}
