import { existsSync, readFileSync } from "node:fs";
import { isAbsolute, resolve } from "node:path";
import { type CertificatePair, certificateFault } from "./certificate.ts";

/**
 * A certificate the user already has (proxy.tls.certificate_file and key_file, relative to the
 * config's folder), checked at the door: it must be one, match its key, cover every domain and
 * be valid now. Throws an Error naming the file, the fault and the fix.
 */
export function readOwnCertificate(
  tls: { certificate_file: string; key_file: string; domains: readonly string[] },
  baseDir: string,
  now = new Date(),
  /** where the settings are in the config, for the messages */
  section = "proxy/tls",
): CertificatePair {
  const at = (file: string) => (isAbsolute(file) ? file : resolve(baseDir, file));
  const certFile = at(tls.certificate_file);
  const keyFile = at(tls.key_file);
  for (const [setting, file] of [
    ["certificate_file", certFile],
    ["key_file", keyFile],
  ] as const)
    if (!existsSync(file))
      throw new Error(`${section}/${setting}: no file at ${file} — give the path of the PEM file`);
  const pair = { cert: readFileSync(certFile, "utf8"), key: readFileSync(keyFile, "utf8") };
  const fault = certificateFault(pair, tls.domains, now, { cert: certFile, key: keyFile });
  if (fault) throw new Error(`${section}: ${fault}`);
  return pair;
}
