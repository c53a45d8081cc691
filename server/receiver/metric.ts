import type { HostReport } from "../shared/state/hosts.ts";

/**
 * The mean CPU of a role's hosts whose monitors reported within `noDataMs`; undefined when none
 * did. With two proxies behind a load balancer proxy_cpu is their mean, as DigitalOcean's
 * autoscale pools and Kubernetes' HPA average over the group: one proxy's figure, whichever
 * Redis listed first, saw half the fleet's load.
 */
export function meanCpu(
  reports: readonly HostReport[],
  role: "proxy" | "production",
  noDataMs: number,
  now: number,
): number | undefined {
  const fresh = reports.filter((h) => h.role === role && now - h.at < noDataMs);
  if (fresh.length === 0) return undefined;
  return fresh.reduce((sum, h) => sum + h.cpu, 0) / fresh.length;
}
