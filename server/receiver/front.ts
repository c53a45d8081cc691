import { readFileSync } from "node:fs";
import { ConnectionBudget, connectionCap, openFileLimit } from "../shared/net/connections.ts";
import { ProxyProtocolFront } from "../shared/net/proxy-protocol-front.ts";
import { RateLimitedLog } from "../shared/rate-limited-log.ts";
import { pusherAddress } from "./pusher.ts";

/** Connections one address may hold open to the receiver: git uses one or two a push. */
export const PER_ADDRESS = 32;

/**
 * The receiver's public port: a front that counts each connection as it opens and passes its
 * bytes to the Bun.serve listener on loopback, which has no count of its own. One address
 * holds at most PER_ADDRESS, everyone together a fifth of the open-file limit, and a
 * connection that sends nothing is closed after 10 s; so a stranger holding connections open
 * cannot run the receiver out of files, and with it the autoscaler, self-healing and renewals
 * that run in the same process. The control host itself (a TLS proxy there) counts towards
 * the total only.
 */
export function receiverFront(
  hostname: string,
  port: number,
  innerPort: () => number | undefined,
): ProxyProtocolFront {
  let limits = "";
  try {
    limits = readFileSync("/proc/self/limits", "utf8");
  } catch {
    // not Linux: the default below
  }
  const connections = new ConnectionBudget(
    { max: connectionCap("auto", openFileLimit(limits) ?? 1024), perAddress: PER_ADDRESS },
    (address) => pusherAddress(address, null) === undefined,
    "the receiver",
  );
  const log = new RateLimitedLog(20, undefined, undefined, "dropship-receiver");
  const settings = {
    hostname,
    port,
    innerPort,
    // no load balancer stands before the receiver: a PROXY header is a stranger's forgery
    isTrusted: () => false,
    log: (line: string) => log.line(line),
    connections,
    // one receiver a port: a second one started by mistake (and its autoscaler) must fail
    reusePort: false,
  };
  try {
    return new ProxyProtocolFront(settings);
  } catch (error) {
    throw new Error(
      `cannot listen on ${hostname}:${port} (${(error as Error).message}): another receiver, or another program, holds the port — stop it, or set PORT to a free one`,
    );
  }
}
