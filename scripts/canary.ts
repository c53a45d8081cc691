import { typedFault } from "../server/shared/records/faults.ts";
import { Weight } from "../server/shared/routing/schema.ts";
import { describeSteps } from "../server/shared/routing/steps.ts";
import {
  changeCanary,
  clearAlert,
  listAlerts,
  promoteCanary,
  readCanary,
} from "../server/shared/state/routing.ts";
import { ArgumentError, runVerb, UsageError, type VerbSpec } from "./lib/cli.ts";
import { actor, cliRedis } from "./lib/redis.ts";

const SPEC = {
  verb: "canary",
  usage: ["canary [show]", "canary weight N", "canary promote", "canary abort", "canary resume"],
  about: `The canary's share of clients (0 to 100 percent) and its state. With canary/steps, a new
canary goes through their weights on its own; promote moves it to the next step now, and a
weight set by hand holds the steps there. abort sends staging nothing until resume; resume
also clears the canary-analysis alert (other alerts keep staging out until they resolve).
Audited.`,
  env: ["REDIS_URL", "DROPSHIP_ACTOR"],
  positionals: 2,
} satisfies VerbSpec;

await runVerb(SPEC, async ({ positionals: [verb = "show", ...rest] }) => {
  const redis = await cliRedis();
  const who = actor();
  try {
    if (verb === "show" && rest.length === 0) {
      const canary = await readCanary(redis);
      const alerts = (await listAlerts(redis)).filter((a) => a.canary);
      console.log(
        `weight ${canary.weight}%, ${canary.state}${canary.reason ? ` (${canary.reason})` : ""}`,
      );
      const steps = describeSteps(canary, Date.now());
      if (steps) console.log(`steps: ${steps}`);
      for (const alert of alerts) console.log(`alert ${alert.id}: ${alert.summary}`);
      return;
    }
    if (verb === "weight" && rest.length === 1) {
      const fault = typedFault(Weight, rest[0] as string, "weight");
      if (fault) throw new UsageError(fault);
      const weight = Number(rest[0]);
      const { old, now } = await changeCanary(redis, { weight }, who);
      return console.log(`canary weight: ${old.weight}% → ${now.weight}%`);
    }
    if (verb === "promote" && rest.length === 0) {
      const promoted = await promoteCanary(redis, who);
      if ("fault" in promoted) throw new UsageError(promoted.fault);
      return console.log(promoted.line);
    }
    if (verb === "abort" && rest.length === 0) {
      await changeCanary(redis, { state: "aborted", reason: `by ${who}` }, who);
      return console.log("canary aborted: staging gets no new requests");
    }
    if (verb === "resume" && rest.length === 0) {
      await clearAlert(redis, "canary-analysis", who);
      const { now } = await changeCanary(
        redis,
        { state: "active", reason: `resumed by ${who}` },
        who,
      );
      const blocking = (await listAlerts(redis)).filter((a) => a.canary);
      const note =
        blocking.length > 0
          ? `, but alert ${blocking.map((a) => a.id).join(", ")} still keeps staging out`
          : "";
      return console.log(`canary resumed at ${now.weight}%${note}`);
    }
    throw new ArgumentError(`cannot ${verb} ${rest.join(" ")}`.trim());
  } finally {
    redis.disconnect();
  }
});
