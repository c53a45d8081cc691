/**
 * HTTPS through dropship-proxy next to nginx (1 worker) with the same certificate (ECDSA
 * P-256) and the same two upstreams, in one run: requests over kept-alive TLS connections, and
 * the new-connection rate (a TLS handshake for every request, `Connection: close`). The proxy
 * runs three ways: as shipped (one certificate, so its own front terminates TLS), with two
 * certificates (Bun.serve chooses by SNI, on loopback behind a front that counts connections),
 * and with every request answered by Bun.serve on the public port (`DROPSHIP_PROXY_ENGINE=serve`,
 * as with two certificates before).
 *
 *   bun bench/https.ts [seconds=10] [rounds=3] [connections=50]
 *
 * Needs wrk, nginx and openssl (apt-get install wrk nginx-light). Medians over the rounds.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { selfSigned } from "../scripts/lib/certificates.ts";
import { freePort } from "../scripts/lib/processes.ts";
import { connectRedis, whenReady } from "../server/shared/state/redis.ts";
import { putCertificate } from "../server/shared/state/tls.ts";
import {
  benchRedis,
  benchServer,
  cleanup,
  median,
  routeToProduction,
  startNginx,
  startTrivialUpstream,
  workDir,
  wrkRun,
} from "./lib.ts";

const [seconds = 10, rounds = 3, connections = 50] = process.argv.slice(2).map(Number);

try {
  const upstreams = await Promise.all([0, 1].map(() => startTrivialUpstream()));
  const redis = await benchRedis();
  await routeToProduction(redis.url, upstreams);
  const state = connectRedis(redis.url, { purpose: "bench", persistent: true });
  await whenReady(state, redis.url, 5000);
  /** A self-signed certificate for `name` in the work directory, stored for the proxy. */
  const certificate = async (name: string) => {
    const [cert, key] = [join(workDir, `${name}.pem`), join(workDir, `${name}.key`)];
    selfSigned({
      certFile: cert,
      keyFile: key,
      commonName: name,
      names: [`DNS:${name}`],
      days: 30,
    });
    await putCertificate(state, name, {
      cert: readFileSync(cert, "utf8"),
      key: readFileSync(key, "utf8"),
      notAfter: new Date(Date.now() + 30 * 86_400_000).toISOString(),
      issuedAt: new Date().toISOString(),
      issuer: "bench",
    });
    return { cert, key };
  };
  const { cert, key } = await certificate("shop.test");
  // a second name with a certificate of its own: Bun.serve chooses by SNI, behind the front
  await certificate("www.shop.test");
  state.disconnect();
  const config = join(workDir, "dropship.yml");
  writeFileSync(config, "proxy: { tls: { domains: [shop.test] } }\n");
  const twoNames = join(workDir, "dropship-two.yml");
  writeFileSync(twoNames, "proxy: { tls: { domains: [shop.test, www.shop.test] } }\n");
  /** One process, as nginx has one worker (`proxy.workers` is one per core by default). */
  const startDropship = async (name: string, env: Record<string, string> = {}) => {
    const httpsPort = freePort();
    const server = await benchServer(
      "proxy",
      {
        REDIS_URL: redis.url,
        DROPSHIP_CONFIG: config,
        DROPSHIP_PROXY_WORKERS: "1",
        DROPSHIP_HTTPS_PORT: String(httpsPort),
        DROPSHIP_ADMIN_PORT: String(freePort()),
        ...env,
      },
      "/_dropship/healthz",
    );
    return { name, url: `https://127.0.0.1:${httpsPort}`, pids: () => [server.pid] };
  };
  const nginx = await startNginx(upstreams, { cert, key });
  const targets = [
    // one certificate: the proxy's own front terminates TLS
    await startDropship("dropship-proxy (1 process)"),
    // the way every HTTPS request went before session 25, and with two certificates before
    // session 28 (Bun.serve on the public port)
    await startDropship("dropship-proxy (1 process), all by Bun.serve", {
      DROPSHIP_PROXY_ENGINE: "serve",
    }),
    // two certificates: Bun.serve on loopback behind a front that passes TLS and counts
    await startDropship("dropship-proxy (1 process), two certificates", {
      DROPSHIP_CONFIG: twoNames,
    }),
    { name: "nginx (1 worker)", url: nginx.url, pids: nginx.pids },
  ];
  const modes = [
    { name: "kept-alive", headers: [] as string[] },
    { name: "new connection each", headers: ["-H", "Connection: close"] },
  ];
  const results = new Map<string, { rps: number; p99: number; cpu: number }[]>();
  for (let round = 1; round <= rounds; round++)
    for (const mode of modes)
      for (const target of targets) {
        const run = await measure(target, mode.headers);
        const keyName = `${mode.name}|${target.name}`;
        results.set(keyName, [...(results.get(keyName) ?? []), run]);
        console.error(`round ${round} ${mode.name} ${target.name}: ${run.rps.toFixed(0)} req/s`);
      }
  console.log(`\nwrk -t1 -c${connections} -d${seconds}s over TLS, medians of ${rounds} rounds\n`);
  console.log("| mode | proxy | req/s | vs nginx | p99 ms | CPU µs/req |");
  console.log("|---|---|---|---|---|---|");
  for (const mode of modes) {
    const nginxRps = median((results.get(`${mode.name}|nginx (1 worker)`) ?? []).map((r) => r.rps));
    for (const target of targets) {
      const runs = results.get(`${mode.name}|${target.name}`) ?? [];
      const rps = median(runs.map((r) => r.rps));
      console.log(
        `| ${mode.name} | ${target.name} | ${rps.toFixed(0)} | ${(rps / nginxRps).toFixed(2)}× | ${median(runs.map((r) => r.p99)).toFixed(2)} | ${median(runs.map((r) => r.cpu)).toFixed(1)} |`,
      );
    }
  }
} finally {
  await cleanup();
}

async function measure(target: { url: string; pids: () => number[] }, headers: string[]) {
  const run = await wrkRun(target.url, target.pids(), {
    connections,
    seconds,
    extra: headers,
    label: target.url,
  });
  return { rps: run.rps, p99: run.p99, cpu: run.cpuMicros };
}
