import { hostname } from "node:os";
import { host, oneOf, port, readEnv, redisUrl } from "../shared/env.ts";
import { FlagClient } from "../shared/flags/client.ts";
import { BUILT_IN_FLAGS } from "../shared/flags/model.ts";
import { onShutdown, serverMain } from "../shared/serve.ts";
import { connectRedis } from "../shared/state/redis.ts";
import { VERSION } from "../shared/version.ts";
import { createApp, type Phase } from "./app.ts";
import { AppStore } from "./store.ts";

const SPEC = {
  port: port(3000, "port to listen on"),
  host: host(),
  redisUrl: redisUrl(),
  track: oneOf(
    "DROPSHIP_TRACK",
    ["production", "staging"] as const,
    "production",
    "which release line this is",
  ),
};

const MAX_UPLOAD_BYTES = 2 * 1024 * 1024;
const DRAIN_MS = 10_000;

await serverMain("dropship-app", "the sample app behind the proxy", SPEC, async () => {
  const env = readEnv(SPEC);
  let phase: Phase = "starting";
  const redis = connectRedis(env.redisUrl, { purpose: "dropship-app", persistent: true });
  const flags = new FlagClient({ redisUrl: env.redisUrl, defaults: BUILT_IN_FLAGS });
  const app = createApp({
    store: new AppStore(redis),
    flags,
    info: { track: env.track, version: VERSION, host: hostname() },
    phase: () => phase,
    redisUp: () => redis.status === "ready",
    inFlight: () => app.server?.pendingRequests ?? 0,
    maxUploadBytes: MAX_UPLOAD_BYTES,
  });
  app.listen({ port: env.port, hostname: env.host, maxRequestBodySize: MAX_UPLOAD_BYTES * 2 });
  await flags.start();
  phase = "serving";
  const flagState = flags.status().stale ? "defaults until Redis answers" : "flags loaded";
  console.log(
    `dropship-app ${VERSION} (${env.track}) listening on http://${env.host}:${app.server?.port} — ${flagState}`,
  );

  onShutdown(async () => {
    phase = "draining";
    const deadline = Date.now() + DRAIN_MS;
    while ((app.server?.pendingRequests ?? 0) > 0 && Date.now() < deadline) await Bun.sleep(20);
    await app.stop();
    await flags.stop();
    redis.disconnect();
  });
});
