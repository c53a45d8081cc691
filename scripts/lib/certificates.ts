import { run } from "../../server/shared/proc.ts";

/**
 * A self-signed ECDSA P-256 certificate made with openssl, for a test CA's own listener, the
 * benches and the tests. `names` become its subjectAltName (DNS:… or IP:…).
 */
export function selfSigned(options: {
  certFile: string;
  keyFile: string;
  commonName: string;
  names: string[];
  days: number;
}): void {
  run([
    "openssl",
    "req",
    "-x509",
    "-newkey",
    "ec",
    "-pkeyopt",
    "ec_paramgen_curve:P-256",
    "-nodes",
    "-keyout",
    options.keyFile,
    "-out",
    options.certFile,
    "-days",
    String(options.days),
    "-subj",
    `/CN=${options.commonName}`,
    "-addext",
    `subjectAltName=${options.names.join(",")}`,
  ]);
}
