import { createPrivateKey, X509Certificate } from "node:crypto";

/** A certificate chain (leaf first) with its key, as the proxy serves it. */
export interface CertificatePair {
  /** PEM: the leaf, then its intermediates */
  cert: string;
  /** PEM private key */
  key: string;
}

export interface CertificateFacts {
  /** the names it covers (subjectAltName DNS entries) */
  names: string[];
  notAfter: Date;
  issuer: string;
}

/** Reads a PEM chain's leaf; undefined when it is not a certificate. */
export function certificateFacts(pem: string): CertificateFacts | undefined {
  try {
    const leaf = new X509Certificate(pem);
    const names = (leaf.subjectAltName ?? "")
      .split(/,\s*/)
      .filter((entry) => entry.startsWith("DNS:"))
      .map((entry) => entry.slice(4).toLowerCase());
    return { names, notAfter: new Date(leaf.validTo), issuer: leaf.issuer.replace(/\n/g, ", ") };
  } catch {
    return undefined;
  }
}

/**
 * Why a certificate and key cannot serve `domains` at `now`, or undefined when they can:
 * not a certificate, not a key, a key that is not the certificate's, a domain it does not
 * cover, or expired. `what` names the source in the message (a file, Redis).
 */
export function certificateFault(
  pair: CertificatePair,
  domains: readonly string[],
  now: Date,
  what: { cert: string; key: string },
): string | undefined {
  let leaf: X509Certificate;
  try {
    leaf = new X509Certificate(pair.cert);
  } catch {
    return `${what.cert} is not a PEM certificate — give the certificate chain (fullchain.pem), leaf first`;
  }
  let matches: boolean;
  try {
    matches = leaf.checkPrivateKey(createPrivateKey(pair.key));
  } catch {
    return `${what.key} is not a PEM private key — give the key the certificate was issued for (privkey.pem)`;
  }
  if (!matches)
    return `${what.key} is not the key of ${what.cert} — give the private key the certificate was issued for`;
  const uncovered = domains.filter((domain) => leaf.checkHost(domain) === undefined);
  if (uncovered.length > 0)
    return `${what.cert} does not cover ${uncovered.join(", ")} (it is for ${certificateFacts(pair.cert)?.names.join(", ") || "no DNS name"}) — get one that lists every domain in proxy.tls.domains`;
  const notAfter = new Date(leaf.validTo);
  if (notAfter.getTime() <= now.getTime())
    return `${what.cert} expired on ${notAfter.toISOString()} — renew it (for the proxy, dropping certificate_file and key_file lets dropship get one over ACME)`;
  if (new Date(leaf.validFrom).getTime() > now.getTime())
    return `${what.cert} is not valid before ${new Date(leaf.validFrom).toISOString()} — check this machine's clock`;
  return undefined;
}

/** The certificate for a name among several: an exact name first, then a wildcard. */
export function pairFor(
  pairs: ReadonlyMap<string, CertificatePair>,
  serverName: string,
): CertificatePair | undefined {
  const name = serverName.toLowerCase();
  return pairs.get(name) ?? pairs.get(`*.${name.split(".").slice(1).join(".")}`);
}
