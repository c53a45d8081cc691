import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { selfSigned } from "./certificates.ts";
import { freePort } from "./processes.ts";

/** Let's Encrypt's test CA (Debian's pebble), set up in a folder of its own. */
export interface PebbleSetup {
  argv: string[];
  /** no random nonce rejections or validation sleeps: time goes into the ACME flow itself */
  env: Record<string, string>;
  directory: string;
  port: number;
  /** PEM that pebble's own HTTPS listener is signed with (what an ACME client must trust) */
  listenerCaFile: string;
  /** where the root that issued certificates chain to is served */
  rootUrl: string;
}

/**
 * pebble's config and its listener's certificate (the package ships none): it validates
 * HTTP-01 on `httpPort` of whatever `dnsServer` (host:port) says a name is.
 */
export function preparePebble(
  dir: string,
  options: {
    httpPort: number;
    dnsServer: string;
    validitySeconds?: number;
    /** names pebble refuses to issue for, as a CA refuses a name by its policy */
    blocklist?: string[];
  },
): PebbleSetup {
  const [port, management] = [freePort(), freePort()];
  const key = join(dir, "pebble-key.pem");
  const cert = join(dir, "pebble-cert.pem");
  selfSigned({
    certFile: cert,
    keyFile: key,
    commonName: "localhost",
    names: ["DNS:localhost", "IP:127.0.0.1"],
    days: 30,
  });
  const config = join(dir, "pebble.json");
  writeFileSync(
    config,
    JSON.stringify({
      pebble: {
        listenAddress: `127.0.0.1:${port}`,
        managementListenAddress: `127.0.0.1:${management}`,
        certificate: cert,
        privateKey: key,
        httpPort: options.httpPort,
        tlsPort: freePort(),
        ocspResponderURL: "",
        externalAccountBindingRequired: false,
        ...(options.validitySeconds ? { certificateValidityPeriod: options.validitySeconds } : {}),
        ...(options.blocklist ? { domainBlocklist: options.blocklist } : {}),
      },
    }),
  );
  return {
    argv: ["pebble", "-config", config, "-dnsserver", options.dnsServer],
    env: { PEBBLE_VA_NOSLEEP: "1", PEBBLE_WFE_NONCEREJECT: "0" },
    directory: `https://127.0.0.1:${port}/dir`,
    port,
    listenerCaFile: cert,
    rootUrl: `https://127.0.0.1:${management}/roots/0`,
  };
}

/** The root certificate pebble issues under (a new one each time pebble starts). */
export async function pebbleRoot(setup: PebbleSetup): Promise<string> {
  const response = await fetch(setup.rootUrl, {
    tls: { ca: await Bun.file(setup.listenerCaFile).text() },
  });
  if (!response.ok) throw new Error(`pebble's root: HTTP ${response.status}`);
  return response.text();
}

/** Waits until pebble's ACME directory answers. */
export async function untilPebbleAnswers(setup: PebbleSetup, ms = 10_000): Promise<void> {
  const ca = await Bun.file(setup.listenerCaFile).text();
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    const ok = await fetch(setup.directory, { tls: { ca } }).then(
      (r) => r.ok,
      () => false,
    );
    if (ok) return;
    await Bun.sleep(25);
  }
  throw new Error(`pebble did not answer at ${setup.directory} within ${ms} ms`);
}
