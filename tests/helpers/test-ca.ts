import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { putCertificate } from "../../server/shared/state/tls.ts";

const EC = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"];

/**
 * A certificate authority of a test's own in `dir` (ECDSA P-256, openssl), and certificates
 * it issues for a name: what a client that trusts `ca` (its PEM, also at `caFile`) accepts.
 */
export function testCa(dir: string) {
  const openssl = (...args: string[]) => {
    const run = Bun.spawnSync(["openssl", ...args], { cwd: dir, stderr: "pipe" });
    if (run.exitCode !== 0) throw new Error(`openssl ${args[0]}: ${run.stderr.toString()}`);
  };
  openssl(
    "req",
    "-x509",
    ...EC,
    "-keyout",
    "ca.key",
    "-out",
    "ca.pem",
    "-days",
    "2",
    "-subj",
    "/CN=dropship test CA",
  );
  const caFile = join(dir, "ca.pem");
  return {
    ca: readFileSync(caFile, "utf8"),
    caFile,
    /**
     * A certificate and key for `name` (and any `more` names), valid for `days`, in
     * `<file>.pem` and `<file>.key`.
     */
    issue(name: string, file: string, days = 2, more: readonly string[] = []) {
      openssl(
        "req",
        ...EC,
        "-keyout",
        `${file}.key`,
        "-out",
        `${file}.csr`,
        "-subj",
        `/CN=${name}`,
      );
      writeFileSync(
        join(dir, `${file}.ext`),
        `subjectAltName=${[name, ...more].map((n) => `DNS:${n}`).join(",")}\n`,
      );
      openssl(
        "x509",
        "-req",
        "-in",
        `${file}.csr`,
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        `${file}.pem`,
        "-days",
        String(days),
        "-extfile",
        `${file}.ext`,
      );
      return {
        cert: readFileSync(join(dir, `${file}.pem`), "utf8"),
        key: readFileSync(join(dir, `${file}.key`), "utf8"),
      };
    },
  };
}

/** A certificate and key stored for the proxies, as the control side stores one, valid `days` from now. */
export function storeCertificate(
  redis: Parameters<typeof putCertificate>[0],
  domain: string,
  pair: { cert: string; key: string },
  { days = 2, issuer = "CN=dropship test CA" }: { days?: number; issuer?: string } = {},
): Promise<void> {
  return putCertificate(redis, domain, {
    ...pair,
    notAfter: new Date(Date.now() + days * 86_400_000).toISOString(),
    issuedAt: new Date().toISOString(),
    issuer,
  });
}
