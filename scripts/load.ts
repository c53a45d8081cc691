import { existsSync, readFileSync } from "node:fs";
import { Agent, request } from "node:https";
import { networkInterfaces } from "node:os";
import { join, resolve } from "node:path";
import { VISITOR_ADDRESSES, visitorAddress } from "../server/emulator/network.ts";
import { EMULATOR } from "../server/emulator/this-network.ts";
import { ArgumentError, runVerb, UsageError, type VerbSpec } from "./lib/cli.ts";
import { loadPlan, parseEnvFile, pauseAfter, percentile } from "./lib/load.ts";

const SPEC = {
  verb: "load",
  usage: ["load [DURATION] [--connections N] [--rate N] [--with-bodies] [--visitors N]"],
  about: `Sends visitors' requests to the running demo for DURATION (default 60s, at most 10m)
over N connections (default 32, at most 256), to its site over HTTPS through the public
entry, and nowhere else: the address is read from the demo's own settings
(.dropship/demo.env) and must be on the emulator's public network. The proxy droplet runs
hot, the autoscaler adds a production droplet (the dashboard and the GitOps log show it),
and removes it again once the load is over. With --rate, at most N requests a second in all:
steady traffic to watch, not a machine's worth. With --with-bodies, every other request is a
POST with a small form, as a shop's orders are: the proxy cannot send such a request again
elsewhere, so an operation that drops one (a restart, an upgrade, a scale-in) shows as a
failure. With --visitors N, the connections come from N addresses in turn (the emulator keeps
${VISITOR_ADDRESSES} on its public network for this), so the proxy sees N visitors where it would see
one: the canary analysis counts each address apart, and no single one may abort a canary. Prints
requests a second every 5 s and a summary;
Ctrl-C (SIGINT) or SIGTERM ends the load early, once the requests in flight are answered, and
still prints it.`,
  options: {
    connections: { type: "string", value: "N", description: "requests in flight at once (32)" },
    rate: {
      type: "string",
      value: "N",
      description: "requests a second in all, at most (as many as the connections carry)",
    },
    "with-bodies": {
      type: "boolean",
      description: "every other request a POST with a form body",
    },
    visitors: {
      type: "string",
      value: "N",
      description: `addresses the connections come from, 1 to ${VISITOR_ADDRESSES} (this machine's one)`,
    },
  },
  positionals: 1,
} satisfies VerbSpec;

const ROOT = resolve(import.meta.dir, "..");
const ORDER = "item=42&quantity=1";
const FORM = "application/x-www-form-urlencoded";
const TIMEOUT_MS = 10_000;
/** the emulator's public network: a demo's entry is always on it */
const EMULATOR_PUBLIC = new RegExp(
  `^${EMULATOR.public.prefix.replaceAll(".", "\\.")}\\.\\d{1,3}\\.\\d{1,3}$`,
);

await runVerb(SPEC, async ({ values, positionals }) => {
  const plan = loadPlan(
    positionals[0],
    values.connections as string | undefined,
    values.rate as string | undefined,
    values.visitors as string | undefined,
  );
  if (typeof plan === "string") throw new ArgumentError(plan);
  const envFile = join(
    resolve(process.env.DROPSHIP_DEMO_DIR ?? join(ROOT, ".dropship")),
    "demo.env",
  );
  if (!existsSync(envFile))
    throw new UsageError(
      `no demo is running (${envFile} is not there); start one with bun run demo`,
    );
  const demo = parseEnvFile(readFileSync(envFile, "utf8"));
  const entry = URL.canParse(demo.PROXY_URL ?? "")
    ? new URL(demo.PROXY_URL as string).hostname
    : "";
  if (!EMULATOR_PUBLIC.test(entry) || !demo.DROPSHIP_DOMAIN || !demo.DROPSHIP_CA_FILE)
    throw new UsageError(
      `${envFile} does not name a demo entry on the emulator's network (PROXY_URL ${demo.PROXY_URL ?? "unset"}); start the demo again`,
    );
  const ca = readFileSync(demo.DROPSHIP_CA_FILE, "utf8");
  const domain = demo.DROPSHIP_DOMAIN;
  const url = `https://${entry}/`;
  const withBodies = values["with-bodies"] === true;
  const visitors = visitorsOf(plan.visitors ?? 0);
  console.log(
    `load: ${plan.connections} connections${plan.rate ? `, ${plan.rate} requests a second at most,` : ""} to https://${domain}/ at ${entry} for ${plan.durationMs / 1000} s${withBodies ? ", every other request a POST with a body" : ""}${visitors.length > 0 ? `, from ${visitors.length} addresses (${visitors[0]} and on)` : ""}`,
  );
  const target = { entry, domain, ca };
  // a connection's sender: fetch from this machine's address, or node:https from a visitor's
  const senders = visitors.map((localAddress) =>
    sendFrom(new Agent({ keepAlive: true, localAddress }), target),
  );
  const senderOf = (connection: number) =>
    senders.length > 0
      ? (senders[connection % senders.length] as ReturnType<typeof sendFrom>)
      : sendByFetch(url, target);

  const started = performance.now();
  let end = started + plan.durationMs;
  // the visitors stop after the request each has in flight, and the summary is printed
  const stopped = Promise.withResolvers<void>();
  for (const signal of ["SIGINT", "SIGTERM"] as const)
    process.once(signal, () => {
      end = performance.now();
      stopped.resolve();
    });
  const latencies: number[] = [];
  let done = 0;
  let failed = 0;
  let lastFailure = "";
  const visitor = async (_: unknown, connection: number) => {
    const send = senderOf(connection);
    let sentSoFar = 0;
    while (performance.now() < end) {
      const sent = performance.now();
      const post = withBodies && sentSoFar++ % 2 === 1;
      try {
        const status = await send(post);
        if (status >= 500) {
          failed++;
          lastFailure = `${post ? "POST" : "GET"}: HTTP ${status}`;
        }
      } catch (error) {
        failed++;
        lastFailure = `${post ? "POST" : "GET"}: ${(error as Error).message}`;
      }
      done++;
      latencies.push(performance.now() - sent);
      const pause = Math.min(pauseAfter(plan, sent, performance.now()), end - performance.now());
      // a visitor waiting for its next turn is not in flight: Ctrl-C ends its wait
      if (pause > 0) await Promise.race([Bun.sleep(pause), stopped.promise]);
    }
  };
  let reported = 0;
  const ticker = setInterval(() => {
    const seconds = (performance.now() - started) / 1000;
    console.log(
      `load: ${seconds.toFixed(0)} s, ${((done - reported) / 5).toFixed(0)} req/s, ${failed} failed so far`,
    );
    reported = done;
  }, 5_000);
  await Promise.all(Array.from({ length: plan.connections }, visitor));
  clearInterval(ticker);
  latencies.sort((a, b) => a - b);
  const seconds = (performance.now() - started) / 1000;
  console.log(
    `load: done — ${done} requests in ${seconds.toFixed(1)} s (${(done / seconds).toFixed(0)} req/s), ${failed} failed${failed ? ` (last: ${lastFailure})` : ""}; latency p50 ${percentile(latencies, 50).toFixed(1)} ms, p99 ${percentile(latencies, 99).toFixed(1)} ms`,
  );
});

interface Target {
  entry: string;
  domain: string;
  ca: string;
}

/** A request's answer status, its body read, by fetch (from this machine's own address). */
function sendByFetch(url: string, { domain, ca }: Target) {
  return async (post: boolean): Promise<number> => {
    const response = await fetch(url, {
      ...(post && { method: "POST", body: ORDER }),
      headers: { host: domain, ...(post && { "content-type": FORM }) },
      tls: { ca, serverName: domain },
      signal: AbortSignal.timeout(TIMEOUT_MS),
    });
    await response.arrayBuffer();
    return response.status;
  };
}

/** The same by node:https, whose agent binds its connections to a visitor's address. */
function sendFrom(agent: Agent, { entry, domain, ca }: Target) {
  return (post: boolean): Promise<number> =>
    new Promise((resolve, reject) => {
      const sent = request(
        {
          host: entry,
          path: "/",
          method: post ? "POST" : "GET",
          headers: { host: domain, ...(post && { "content-type": FORM }) },
          agent,
          ca,
          servername: domain,
          timeout: TIMEOUT_MS,
        },
        (answer) => {
          answer.on("error", reject);
          answer.on("end", () => resolve(answer.statusCode ?? 0));
          answer.resume();
        },
      );
      sent.on("timeout", () => sent.destroy(new Error("The operation timed out.")));
      sent.on("error", reject);
      sent.end(post ? ORDER : undefined);
    });
}

/**
 * The first `count` visitors' addresses, each one this machine has: the emulator adds them to
 * its public bridge when it starts, so a demo started by an older dropship lacks them.
 */
function visitorsOf(count: number): string[] {
  const addresses = Array.from({ length: count }, (_, n) => visitorAddress(EMULATOR, n));
  const mine = new Set(
    Object.values(networkInterfaces()).flatMap((list) => (list ?? []).map((a) => a.address)),
  );
  const missing = addresses.filter((address) => !mine.has(address));
  if (missing.length > 0)
    throw new UsageError(
      `this machine lacks the visitors' address ${missing[0]} on the emulator's network; the emulator adds them when it starts — bring the demo down and up again (bun run demo --down, then bun run demo)`,
    );
  return addresses;
}
