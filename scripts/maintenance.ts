import {
  DEFAULT_MAINTENANCE_MESSAGE,
  MAINTENANCE_RETRY_AFTER_S,
  type Maintenance,
  maintenanceMessageFault,
} from "../server/shared/routing/maintenance.ts";
import { changeMaintenance, readMaintenance } from "../server/shared/state/maintenance.ts";
import { ArgumentError, runVerb, type VerbSpec } from "./lib/cli.ts";
import { actor, cliRedis } from "./lib/redis.ts";

const SPEC = {
  verb: "maintenance",
  usage: ["maintenance [show]", "maintenance on [MESSAGE]", "maintenance off"],
  about: `Maintenance mode, as Heroku's maintenance:on and Kamal's app maintenance: while it is on,
every proxy answers each request for the app with 503, Retry-After: ${MAINTENANCE_RETRY_AFTER_S} and a page
with MESSAGE (the words after on; a default sentence without). Deploys, health checks, the
proxy's own paths and certificate challenges go on, and WebSockets already open stay open.
Every proxy hears it within a second. Audited.`,
  env: ["REDIS_URL", "DROPSHIP_ACTOR"],
  positionals: 64,
} satisfies VerbSpec;

await runVerb(SPEC, async ({ positionals: [verb = "show", ...words] }) => {
  if (verb === "on") {
    const message = words.length > 0 ? words.join(" ") : DEFAULT_MAINTENANCE_MESSAGE;
    const fault = maintenanceMessageFault(message);
    if (fault) throw new ArgumentError(fault);
    return change(true, message);
  }
  if (words.length > 0) throw new ArgumentError(`unexpected ${words.join(" ")}`);
  if (verb === "off") return change(false, "");
  if (verb === "show") {
    const redis = await cliRedis();
    try {
      return console.log(describe(await readMaintenance(redis)));
    } finally {
      redis.disconnect();
    }
  }
  throw new ArgumentError(`unknown command ${verb} — use show, on or off`);
});

async function change(on: boolean, message: string) {
  const redis = await cliRedis();
  try {
    const { old, now } = await changeMaintenance(redis, { on, message }, actor());
    console.log(`maintenance: ${old?.on ? "on" : "off"} → ${on ? "on" : "off"}`);
    console.log(describe(now));
  } finally {
    redis.disconnect();
  }
}

function describe(maintenance: Maintenance | undefined): string {
  if (!maintenance) return "off: the app serves every request (never turned on)";
  const when = `since ${maintenance.since} (by ${maintenance.by})`;
  return maintenance.on
    ? `on ${when}: every app request is answered 503 with “${maintenance.message}”`
    : `off ${when}: the app serves every request`;
}
