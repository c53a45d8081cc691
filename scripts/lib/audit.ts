import { HOST_AUDIT_LOG } from "../../server/shared/host/layout.ts";
import { redact } from "../../server/shared/secrets.ts";
import type { Ssh } from "../../server/shared/ssh.ts";
import { recordAction } from "../../server/shared/state/audit.ts";
import { shellQuote } from "../../server/shared/text/shell.ts";
import { actor, cliRedis } from "./redis.ts";

/**
 * Records an operator's action twice: on the host it touches (a line in HOST_AUDIT_LOG, written
 * over the same connection before anything runs, so it holds even when Redis is down) and in
 * the fleet's audit stream beside every flag and routing change. Answers a line to say when
 * the stream could not be reached.
 */
export async function auditAction(
  action: { kind: string; target: string; what: string },
  hosts: Ssh[],
): Promise<string | undefined> {
  const who = actor();
  // a command line may carry a secret this machine knows (a Redis URL, a token): never record it
  const what = redact(action.what);
  const line = `${new Date().toISOString()} ${action.kind} by ${who}: ${what}`;
  for (const ssh of hosts)
    await ssh.check(`umask 077; printf '%s\\n' ${shellQuote(line)} >> ${HOST_AUDIT_LOG}`);
  // an action on no host (a freeze) has only the stream
  const only = hosts.length > 0 ? `audited in ${HOST_AUDIT_LOG} only` : "not audited";
  if (!process.env.REDIS_URL) return `(REDIS_URL is not set: ${only})`;
  try {
    const redis = await cliRedis();
    try {
      await recordAction(redis, { ...action, what, actor: who });
    } finally {
      redis.disconnect();
    }
  } catch (error) {
    return `(the audit stream is unreachable, ${(error as Error).message}: ${only})`;
  }
  return undefined;
}
