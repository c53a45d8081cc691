import { restartApps } from "../pipeline/app-env.ts";
import { refuseWhileFrozen } from "../pipeline/freeze.ts";
import type { RoleName } from "../server/shared/config/schema.ts";
import { eachAppRole } from "./lib/app-hosts.ts";
import { ArgumentError, FLEET_ENV, runVerb, type VerbSpec } from "./lib/cli.ts";
import { receiverSettings } from "./lib/receiver-env.ts";

const SPEC = {
  verb: "restart",
  usage: ["restart [production|staging]"],
  about: `Restarts the app on every host of a role (default: production, then staging), one host at
a time as a deploy does: drained at the proxy, restarted on the release it runs with the
settings it has, healthy, back in rotation — Heroku's ps:restart, Kamal's app boot. Stops at a
host that does not come up, which stays out of the rotation; the hosts before it serve.`,
  env: [...FLEET_ENV, "REDIS_URL", "DROPSHIP_ACTOR"],
  positionals: 1,
} satisfies VerbSpec;

await runVerb(SPEC, async ({ positionals: [role] }) => {
  if (role !== undefined && role !== "production" && role !== "staging")
    throw new ArgumentError(`say production or staging, not ${role}`);
  const roles: RoleName[] = role ? [role] : ["production", "staging"];
  const settings = receiverSettings();
  refuseWhileFrozen(settings.workDir);
  const restarted = await eachAppRole(
    settings,
    roles,
    { verb: "restart", audit: { kind: "restart", target: role ?? "app", what: "rolling restart" } },
    restartApps,
  );
  console.log(
    restarted.length
      ? `✓ restarted ${restarted.join(", ")}, one at a time`
      : "nothing to restart: no app host runs a release yet",
  );
});
