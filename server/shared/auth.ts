import { timingSafeEqual } from "node:crypto";
import { ADMIN_USER, type User } from "./users.ts";
import type { UsersSource } from "./users-file.ts";

const WRONG = "wrong credentials";

export type AuthResult = { ok: true; user: string } | { ok: false; reason: string };

const digest = (text: string) => new Bun.CryptoHasher("sha256").update(text).digest();

/**
 * Credentials: `Bearer <token>`, or HTTP Basic with the token as the password (so a browser
 * prompts, and git takes it from the remote URL). Who is acting comes from the token — the
 * admin token is `admin`, a named user's token is that user — never from the name a client
 * types. Compared in constant time over digests, against every holder, so neither length nor
 * position leaks.
 */
export function checkAdmin(
  authorization: string | null,
  token: string,
  users: readonly User[] = [],
): AuthResult {
  if (!authorization) return { ok: false, reason: "credentials required" };
  const [scheme, value = ""] = authorization.split(" ", 2);
  let secret: string;
  if (scheme?.toLowerCase() === "bearer") {
    secret = value.trim();
  } else if (scheme?.toLowerCase() === "basic") {
    const decoded = Buffer.from(value, "base64").toString("utf8");
    const colon = decoded.indexOf(":");
    if (colon < 0) return { ok: false, reason: "malformed Basic credentials" };
    secret = decoded.slice(colon + 1);
  } else {
    return { ok: false, reason: "use Bearer or Basic credentials" };
  }
  const given = digest(secret);
  let holder: string | undefined;
  if (token && timingSafeEqual(given, digest(token))) holder = ADMIN_USER;
  for (const user of users) {
    const hash = Buffer.from(user.hash, "hex");
    if (hash.length === given.length && timingSafeEqual(given, hash)) holder ??= user.name;
  }
  return holder ? { ok: true, user: holder } : { ok: false, reason: WRONG };
}

/**
 * checkAdmin against the users as last read, and, when no one holds the token, as the users
 * file is now: a user added a moment ago is let in at once rather than counted as a wrong
 * guess (ten of those in a minute hold the address).
 */
export function checkCredentials(
  authorization: string | null,
  token: string,
  users: UsersSource,
): AuthResult {
  const result = checkAdmin(authorization, token, users());
  if (result.ok || result.reason !== WRONG) return result;
  return checkAdmin(authorization, token, users("now"));
}
