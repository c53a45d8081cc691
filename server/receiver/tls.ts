import { isAbsolute, resolve } from "node:path";
import { fileStamp } from "../shared/file-stamp.ts";
import { type CertificatePair, certificateFacts } from "../shared/tls/certificate.ts";
import { readOwnCertificate } from "../shared/tls/files.ts";

/** pipeline.tls: the certificate git pushes are served with. */
export interface PushTls {
  certificate_file: string;
  key_file: string;
}

/** How often the files are looked at for a renewal (a stat of each). */
export const CHECK_MS = 10_000;

/** The certificate and key, checked at the door: one pair, matching, valid now. */
export function readPushCertificate(
  tls: PushTls,
  baseDir: string,
  now = new Date(),
): CertificatePair {
  return readOwnCertificate({ ...tls, domains: [] }, baseDir, now, "pipeline/tls");
}

/** What the files are now (device, inode, size, time), so a renewal is told from no change. */
export function filesStamp(tls: PushTls, baseDir: string): string {
  return [tls.certificate_file, tls.key_file]
    .map((file) => fileStamp(isAbsolute(file) ? file : resolve(baseDir, file)))
    .join("|");
}

/**
 * Looks at the files every CHECK_MS and hands a changed pair that checks out to `use`; one that
 * does not (half written, a wrong key, expired) is said, and the pair in use stays. A renewal
 * (certbot's, or by hand) reaches new connections within CHECK_MS, with no restart.
 */
export function watchPushCertificate(
  tls: PushTls,
  baseDir: string,
  use: (pair: CertificatePair) => void,
  say: (line: string) => void,
): { stop(): void } {
  let stamp = filesStamp(tls, baseDir);
  const timer = setInterval(() => {
    const now = filesStamp(tls, baseDir);
    if (now === stamp) return;
    stamp = now;
    try {
      const pair = readPushCertificate(tls, baseDir);
      use(pair);
      const until = certificateFacts(pair.cert)?.notAfter.toISOString() ?? "unknown";
      say(`serving git over HTTPS with the new ${tls.certificate_file} (valid until ${until})`);
    } catch (error) {
      say(`${(error as Error).message}; the certificate in use stays`);
    }
  }, CHECK_MS);
  return { stop: () => clearInterval(timer) };
}
