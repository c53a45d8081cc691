/**
 * HTTPS through dropship-proxy next to nginx (1 worker) with the same certificate (ECDSA
 * P-256) and the same two upstreams, in one run: requests over kept-alive TLS connections, and
 * the new-connection rate (a TLS handshake for every request, `Connection: close`).
 *
 *   bun bench/https.ts [seconds=10] [rounds=3] [connections=50]
 *
 * Needs wrk, nginx and openssl (apt-get install wrk nginx-light). Medians over the rounds.
 */
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { freePort, startDaemon, waitForHttp } from "../scripts/lib/processes.ts";
import { backendIdFor } from "../server/shared/routing/model.ts";
import { connectRedis, whenReady } from "../server/shared/state/redis.ts";
import { changeCanary, putBackend } from "../server/shared/state/routing.ts";
import { putCertificate } from "../server/shared/state/tls.ts";
import {
  benchRedis,
  benchServer,
  cleanup,
  cpuTicks,
  median,
  ROOT,
  trackPid,
  workDir,
} from "./lib.ts";

const [seconds = 10, rounds = 3, connections = 50] = process.argv.slice(2).map(Number);

try {
  const upstreams = await Promise.all([0, 1].map(() => startUpstream()));
  const cert = join(workDir, "site.pem");
  const key = join(workDir, "site.key");
  const made = Bun.spawnSync([
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
    "30",
    "-subj",
    "/CN=shop.test",
    "-addext",
    "subjectAltName=DNS:shop.test",
  ]);
  if (made.exitCode !== 0) throw new Error("openssl could not make the certificate");
  const redis = await benchRedis();
  const state = connectRedis(redis.url, { purpose: "bench", persistent: true });
  await whenReady(state, redis.url, 5000);
  for (const url of upstreams)
    await putBackend(
      state,
      { id: backendIdFor(url), url, track: "production", draining: false },
      "bench",
    );
  await changeCanary(state, { weight: 0 }, "bench");
  await putCertificate(state, "shop.test", {
    cert: readFileSync(cert, "utf8"),
    key: readFileSync(key, "utf8"),
    notAfter: new Date(Date.now() + 30 * 86_400_000).toISOString(),
    issuedAt: new Date().toISOString(),
    issuer: "bench",
  });
  state.disconnect();
  const config = join(workDir, "dropship.yml");
  writeFileSync(config, "proxy: { tls: { domains: [shop.test] } }\n");
  const httpsPort = freePort();
  const dropship = await benchServer(
    "proxy",
    {
      REDIS_URL: redis.url,
      DROPSHIP_CONFIG: config,
      DROPSHIP_HTTPS_PORT: String(httpsPort),
      DROPSHIP_ADMIN_PORT: String(freePort()),
    },
    "/_dropship/healthz",
  );
  const nginx = await startNginx(upstreams, cert, key);
  const targets = [
    {
      name: "dropship-proxy (1 process)",
      url: `https://127.0.0.1:${httpsPort}`,
      pids: () => [dropship.pid],
    },
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
        const run = measure(target, mode.headers);
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

function measure(target: { url: string; pids: () => number[] }, headers: string[]) {
  const pids = target.pids();
  const before = pids.reduce((sum, pid) => sum + cpuTicks(pid), 0);
  const wrk = Bun.spawnSync(
    ["wrk", "-t1", `-c${connections}`, `-d${seconds}s`, "--latency", ...headers, `${target.url}/`],
    { stdout: "pipe", stderr: "pipe" },
  );
  const out = wrk.stdout.toString();
  const after = pids.reduce((sum, pid) => sum + cpuTicks(pid), 0);
  const requests = Number(/(\d+) requests in/.exec(out)?.[1] ?? 0);
  const errors = /Non-2xx or 3xx responses: (\d+)|Socket errors: .*/.exec(out)?.[0];
  if (errors) console.error(`${target.url}: ${errors}`);
  const p99 = /99%\s+([\d.]+)(us|ms|s)/.exec(out);
  const p99ms = p99
    ? Number(p99[1]) * (p99[2] === "us" ? 0.001 : p99[2] === "s" ? 1000 : 1)
    : Number.NaN;
  return {
    rps: Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? 0),
    p99: p99ms,
    cpu: requests > 0 ? (((after - before) / 100) * 1e6) / requests : 0,
  };
}

async function startUpstream(): Promise<string> {
  const port = freePort();
  trackPid(
    startDaemon(
      [process.execPath, join(ROOT, "bench/upstream.ts")],
      { PORT: String(port) },
      join(workDir, `upstream-${port}.log`),
    ),
  );
  await waitForHttp(`http://127.0.0.1:${port}/healthz`, 10_000, "upstream");
  return `http://127.0.0.1:${port}`;
}

async function startNginx(upstreams: string[], cert: string, key: string) {
  const port = freePort();
  const dir = join(workDir, "nginx");
  mkdirSync(join(dir, "logs"), { recursive: true });
  writeFileSync(
    join(dir, "nginx.conf"),
    `worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/logs/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path ${dir}/body; proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fcgi; uwsgi_temp_path ${dir}/uwsgi; scgi_temp_path ${dir}/scgi;
  upstream apps { ${upstreams.map((u) => `server ${u.slice(7)};`).join(" ")} keepalive 256; }
  server {
    listen 127.0.0.1:${port} ssl;
    ssl_certificate ${cert}; ssl_certificate_key ${key};
    ssl_protocols TLSv1.2 TLSv1.3;
    location / { proxy_pass http://apps; proxy_http_version 1.1; proxy_set_header Connection ""; }
  }
}
`,
  );
  const master = startDaemon(
    ["nginx", "-p", dir, "-c", join(dir, "nginx.conf"), "-g", "daemon off;"],
    {},
    join(dir, "run.log"),
  );
  trackPid(master);
  const url = `https://127.0.0.1:${port}`;
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    const ok = await fetch(`${url}/healthz`, { tls: { rejectUnauthorized: false } }).then(
      (r) => r.ok,
      () => false,
    );
    if (ok) break;
    await Bun.sleep(50);
  }
  const workers = () =>
    readFileSync(`/proc/${master}/task/${master}/children`, "utf8")
      .trim()
      .split(/\s+/)
      .filter(Boolean)
      .map(Number);
  return { url, pids: () => [master, ...workers()] };
}
