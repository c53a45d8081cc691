import {
  describeFreeze,
  type Freeze,
  freezeReasonFault,
  readFreeze,
  writeFreeze,
} from "../pipeline/freeze.ts";
import { loadLocatedConfig } from "../server/shared/config/locate.ts";
import { localPaths } from "../server/shared/config/paths.ts";
import { auditAction } from "./lib/audit.ts";
import { ArgumentError, runVerb, type VerbSpec } from "./lib/cli.ts";
import { actor } from "./lib/redis.ts";

const SPEC = {
  verb: "freeze",
  usage: ["freeze [show]", "freeze on REASON", "freeze off"],
  about: `A deploy freeze, as Kamal's lock and GitLab's deploy freezes: while it is on, nothing new
ships — a push to a deploying branch, bun run deploy, env set/unset, restart and upgrade are
refused, saying who froze deploys, since when and REASON (the words after on). bun run
rollback goes on (it is the way back from a bad release), and so do scaling and self-healing,
which only add hosts running the live release. Kept in the receiver's work folder
(DROPSHIP_WORK/freeze.json); audited.`,
  env: ["DROPSHIP_CONFIG", "DROPSHIP_WORK", "REDIS_URL", "DROPSHIP_ACTOR"],
  positionals: 64,
} satisfies VerbSpec;

await runVerb(SPEC, async ({ positionals: [verb = "show", ...words] }) => {
  const { config } = loadLocatedConfig(() => {});
  const workDir = localPaths(config, process.env).work;
  const before = readFreeze(workDir);
  if (verb === "on") {
    const reason = words.join(" ");
    const fault = freezeReasonFault(reason);
    if (fault) throw new ArgumentError(fault);
    const freeze: Freeze = { by: actor(), since: new Date().toISOString(), reason };
    writeFreeze(workDir, freeze);
    return changed(before, freeze);
  }
  if (words.length > 0) throw new ArgumentError(`unexpected ${words.join(" ")}`);
  if (verb === "off") {
    writeFreeze(workDir, undefined);
    return changed(before, undefined);
  }
  if (verb === "show") return console.log(describeFreeze(before));
  throw new ArgumentError(`unknown command ${verb} — use show, on or off`);
});

async function changed(before: Freeze | undefined, now: Freeze | undefined) {
  console.log(`deploys: ${before ? "frozen" : "not frozen"} → ${now ? "frozen" : "not frozen"}`);
  console.log(describeFreeze(now));
  const unaudited = await auditAction(
    { kind: "freeze", target: "deploys", what: now ? `freeze on: ${now.reason}` : "freeze off" },
    [],
  );
  if (unaudited) console.log(unaudited);
}
