import type { Fleet, FleetHost } from "../../pipeline/fleet.ts";
import { Ssh, targetOf } from "../../server/shared/ssh.ts";

/** One pinned SSH connection per host, opened together; all closed again if one fails. */
export async function connectAll(fleet: Fleet, hosts: FleetHost[]): Promise<Ssh[]> {
  const opened = await Promise.allSettled(hosts.map((host) => Ssh.connect(targetOf(host, fleet))));
  const failed = opened.find((o) => o.status === "rejected");
  if (failed) {
    for (const o of opened) if (o.status === "fulfilled") o.value.close();
    throw (failed as PromiseRejectedResult).reason;
  }
  return opened.map((o) => (o as PromiseFulfilledResult<Ssh>).value);
}
