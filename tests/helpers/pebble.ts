import { afterAll } from "bun:test";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { freePort } from "./ports.ts";
import { track } from "./processes.ts";
import { fileTempDir } from "./tmp.ts";

export interface Pebble {
  /** the ACME directory URL */
  directory: string;
  /** PEM that pebble's own HTTPS listener is signed with (what an ACME client must trust) */
  listenerCaFile: string;
  /** PEM of the root that issued certificates chain to */
  root(): Promise<string>;
  stop(): Promise<void>;
  start(): Promise<void>;
}

/**
 * Let's Encrypt's test CA (Debian's pebble), validating HTTP-01 on `httpPort` of whatever
 * `dnsServer` (host:port) says a name is. No random nonce rejections or sleeps, so a test's
 * time goes into the ACME flow itself.
 */
export async function startPebble(options: {
  httpPort: number;
  dnsServer: string;
  validitySeconds?: number;
}): Promise<Pebble> {
  const dir = fileTempDir("pebble-");
  const [port, management] = [freePort(), freePort()];
  const key = join(dir, "key.pem");
  const cert = join(dir, "cert.pem");
  const made = Bun.spawnSync(
    [
      "openssl",
      "req",
      "-x509",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:P-256",
      "-nodes",
      "-keyout",
      key,
      "-out",
      cert,
      "-days",
      "2",
      "-subj",
      "/CN=localhost",
      "-addext",
      "subjectAltName=DNS:localhost,IP:127.0.0.1",
    ],
    { stderr: "pipe" },
  );
  if (made.exitCode !== 0) throw new Error(`openssl: ${made.stderr.toString()}`);
  writeFileSync(
    join(dir, "config.json"),
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
      },
    }),
  );
  let child: ReturnType<typeof Bun.spawn> | undefined;
  const start = async () => {
    child = track(
      Bun.spawn(["pebble", "-config", join(dir, "config.json"), "-dnsserver", options.dnsServer], {
        env: { ...process.env, PEBBLE_VA_NOSLEEP: "1", PEBBLE_WFE_NONCEREJECT: "0" },
        stdout: Bun.file(join(dir, "pebble.log")),
        stderr: Bun.file(join(dir, "pebble.log")),
      }),
    );
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline) {
      const up = Bun.spawnSync(["ss", "-tln", `sport = :${port}`], { stdout: "pipe" });
      if (up.stdout.toString().includes(`:${port}`)) return;
      await Bun.sleep(25);
    }
    throw new Error(
      `pebble did not listen within 10 s: ${readFileSync(join(dir, "pebble.log"), "utf8")}`,
    );
  };
  const stop = async () => {
    child?.kill("SIGTERM");
    await child?.exited;
    child = undefined;
  };
  await start();
  afterAll(stop);
  return {
    directory: `https://127.0.0.1:${port}/dir`,
    listenerCaFile: cert,
    root: async () => {
      const response = await fetch(`https://127.0.0.1:${management}/roots/0`, {
        tls: { ca: readFileSync(cert, "utf8") },
      });
      return response.text();
    },
    stop,
    start,
  };
}
