/** The control host's own addresses: its git, its CLI, a TLS-terminating proxy beside it. */
const SELF = new Set(["127.0.0.1", "::1", "::ffff:127.0.0.1"]);

/**
 * Whose wrong credentials a request counts as: its peer's address, or, from the control host
 * itself (a TLS-terminating proxy there), the right-most address in X-Forwarded-For; undefined
 * for the control host's own requests, which are never held, so that no stranger can lock the
 * team out of pushing from there.
 */
export function pusherAddress(peer: string, forwardedFor: string | null): string | undefined {
  if (!SELF.has(peer)) return peer;
  const last = forwardedFor?.split(",").at(-1)?.trim();
  return last ? last.slice(0, 64) : undefined;
}
