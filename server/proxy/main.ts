import { hostname } from "node:os";
import { loadConfigOrDefaults } from "../shared/config/load.ts";
import { host, port, readEnv, redisUrl, type Variable } from "../shared/env.ts";
import { FlagClient } from "../shared/flags/client.ts";
import { BUILT_IN_FLAGS } from "../shared/flags/model.ts";
import { onShutdown, serverMain } from "../shared/serve.ts";
import { KEYS } from "../shared/state/keys.ts";
import { StateMirror } from "../shared/state/mirror.ts";
import { connectRedis } from "../shared/state/redis.ts";
import { VERSION } from "../shared/version.ts";
import { createAdmin } from "./admin.ts";
import { ErrorWindow } from "./analysis.ts";
import { startCanaryAnalysis } from "./analyst.ts";
import { startHealthChecks } from "./checker.ts";
import { forward } from "./forward.ts";
import { Metrics } from "./metrics.ts";
import { Pool } from "./pool.ts";
import { Routing } from "./routing.ts";
import { startTrafficReports } from "./traffic.ts";

const SPEC = {
  port: port(80, "public HTTP port"),
  host: host(),
  redisUrl: redisUrl(),
  adminToken: {
    name: "DROPSHIP_ADMIN_TOKEN",
    description: "secret for the admin API and /disable/1|0; without it they answer 503",
    fallback: "",
    parse: (text: string) => {
      if (text.length < 16)
        throw new Error(`is ${text.length} characters — use at least 16 (openssl rand -hex 16)`);
      return text;
    },
  } satisfies Variable<string>,
  configFile: {
    name: "DROPSHIP_CONFIG",
    description: "deployment config for health checks and canary analysis; defaults when unset",
    fallback: "",
    parse: (text: string) => text,
  } satisfies Variable<string>,
};

await serverMain(
  "dropship-proxy",
  "the canary-splitting proxy in front of the apps",
  SPEC,
  async () => {
    const env = readEnv(SPEC);
    const config = loadConfigOrDefaults(env.configFile);
    const mirror = new StateMirror({
      redisUrl: env.redisUrl,
      hashes: [KEYS.flags, KEYS.backends, KEYS.canary, KEYS.alerts],
    });
    const flags = new FlagClient({ redisUrl: env.redisUrl, mirror, defaults: BUILT_IN_FLAGS });
    const pool = new Pool();
    const checks = startHealthChecks(pool, config.health);
    const routing = new Routing(mirror, pool, flags, config.canary.weight, checks.checkNow);
    const redis = connectRedis(env.redisUrl, { purpose: "dropship-proxy", persistent: true });
    const metrics = new Metrics();
    const window = new ErrorWindow(config.canary.analysis.window);
    const analysis = startCanaryAnalysis(routing, window, redis, config.canary.analysis);
    if (!env.adminToken)
      console.error("dropship-proxy: DROPSHIP_ADMIN_TOKEN is not set; the admin API answers 503");

    const peers = new WeakMap<Request, string>();
    const admin = createAdmin({
      token: env.adminToken || undefined,
      redis,
      routing,
      flags,
      metrics,
      version: VERSION,
      peerOf: (request) => peers.get(request) ?? "unknown",
    });

    await mirror.start();
    await checks.checkNow(pool.all());
    const deps = { routing, metrics, window };
    const server = Bun.serve({
      port: env.port,
      hostname: env.host,
      idleTimeout: 120,
      fetch(request, server) {
        const url = request.url;
        const pathAt = url.indexOf("/", url.indexOf("//") + 2);
        const peer = server.requestIP(request)?.address ?? "unknown";
        if (url.startsWith("/_dropship", pathAt) || url.startsWith("/disable/", pathAt)) {
          peers.set(request, peer);
          return admin.handle(request);
        }
        return forward(request, peer, deps);
      },
    });
    const traffic = startTrafficReports(
      redis,
      `${hostname()}:${server.port}`,
      () => {
        const totals = metrics.totals();
        return totals.production.requests + totals.staging.requests;
      },
      config.monitor.interval,
    );
    const counts = `${pool.available("production")} production and ${pool.available("staging")} staging backends healthy`;
    console.log(
      `dropship-proxy ${VERSION} listening on http://${env.host}:${server.port} — ${counts}`,
    );

    onShutdown(async () => {
      await server.stop();
      checks.stop();
      traffic.stop();
      analysis.stop();
      await mirror.stop();
      redis.disconnect();
    });
  },
);
