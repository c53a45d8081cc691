import type { RenewalStatus, StoredCertificate } from "../state/tls.ts";

/** Each domain's certificate as `certs list`, status and the dashboard show it. */
export function certificateRows(
  domains: readonly string[],
  held: ReadonlyMap<string, StoredCertificate>,
  statuses: ReadonlyMap<string, RenewalStatus>,
  now: Date,
): string[][] {
  return domains.map((domain) => {
    const cert = held.get(domain);
    const status = statuses.get(domain);
    const days = cert
      ? Math.floor((Date.parse(cert.notAfter) - now.getTime()) / 86_400_000)
      : undefined;
    return [
      domain,
      cert ? cert.notAfter.slice(0, 10) : "none yet",
      days === undefined ? "-" : String(days),
      cert?.issuer ?? "-",
      status?.lastError ? `${status.lastError} (${status.failures}×)` : "-",
    ];
  });
}
