import { timingSafeEqual } from "node:crypto";

export type AuthResult = { ok: true; user: string } | { ok: false; reason: string };

const digest = (text: string) => new Bun.CryptoHasher("sha256").update(text).digest();

/**
 * Admin credentials: `Bearer <token>`, or HTTP Basic with the token as the password (so a
 * browser prompts). Compared in constant time over digests, so length leaks nothing either.
 */
export function checkAdmin(authorization: string | null, token: string): AuthResult {
  if (!authorization) return { ok: false, reason: "credentials required" };
  const [scheme, value = ""] = authorization.split(" ", 2);
  let user = "admin";
  let secret: string;
  if (scheme?.toLowerCase() === "bearer") {
    secret = value.trim();
  } else if (scheme?.toLowerCase() === "basic") {
    const decoded = Buffer.from(value, "base64").toString("utf8");
    const colon = decoded.indexOf(":");
    if (colon < 0) return { ok: false, reason: "malformed Basic credentials" };
    user = decoded.slice(0, colon) || "admin";
    secret = decoded.slice(colon + 1);
  } else {
    return { ok: false, reason: "use Bearer or Basic credentials" };
  }
  if (!timingSafeEqual(digest(secret), digest(token)))
    return { ok: false, reason: "wrong credentials" };
  return { ok: true, user: user.replace(/[^\w.@-]/g, "").slice(0, 64) || "admin" };
}
