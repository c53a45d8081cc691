import { join, resolve } from "node:path";
import { readFleet } from "../pipeline/fleet.ts";
import { refuseWhileFrozen } from "../pipeline/freeze.ts";
import { run } from "../server/shared/proc.ts";
import { PLATFORM_ROLES, upgradePlatform } from "../server/shared/upgrade.ts";
import { auditAction } from "./lib/audit.ts";
import { FLEET_ENV, runVerb, UsageError, type VerbSpec } from "./lib/cli.ts";
import { receiverSettings } from "./lib/receiver-env.ts";
import { buildRelease } from "./lib/setup.ts";

const SPEC = {
  verb: "upgrade",
  usage: ["upgrade"],
  about: `Builds this checkout's servers and ships the platform's own — dropship-proxy and
dropship-monitor — to the proxy and Redis hosts, one host at a time, where their code changed:
the proxy is handed over (the new process listens before the old one stops, so no request
fails), the monitor restarted. A push to master does the same after its deploy; production
hosts get the monitor with each deploy, staging hosts with each canary. Audited when
REDIS_URL is set.`,
  env: [...FLEET_ENV, "REDIS_URL", "DROPSHIP_ACTOR"],
} satisfies VerbSpec;

const ROOT = resolve(import.meta.dir, "..");

await runVerb(SPEC, async () => {
  // an untracked file is not code that runs: the guide's dropship.yml, copied from the example,
  // is one, and a new source file only runs once a tracked one imports it
  if (run(["git", "-C", ROOT, "status", "--porcelain", "--untracked-files=no"]).trim() !== "")
    throw new UsageError(
      `${ROOT} has uncommitted changes — commit them first, so the release names the code it runs`,
    );
  const version = run(["git", "-C", ROOT, "rev-parse", "--short=12", "HEAD"]).trim();
  const settings = receiverSettings();
  refuseWhileFrozen(settings.workDir);
  const fleet = readFleet(settings.fleet.inventories);
  const hosts = fleet.hosts.filter((h) => PLATFORM_ROLES.includes(h.role));
  if (hosts.length === 0)
    throw new UsageError(`no proxy or Redis hosts in ${settings.fleet.inventories.join(" + ")}`);
  console.log(`▸ build ${version}`);
  const dir = await buildRelease(settings.workDir, version);
  console.log(`▸ platform (proxy, monitor) → ${hosts.map((h) => h.name).join(", ")}`);
  const unaudited = await auditAction(
    { kind: "upgrade", target: "platform", what: `proxy and monitor from ${version}` },
    [],
  );
  if (unaudited) console.log(`  ${unaudited}`);
  const upgraded = await upgradePlatform({
    hosts,
    privateKey: fleet.privateKey,
    privateKeyFile: fleet.privateKeyFile,
    version,
    releaseDir: dir,
    config: settings.config,
    cacheDir: join(settings.workDir, "cache", "releases"),
    say: (line) => console.log(line),
  });
  console.log(
    upgraded.length > 0
      ? `✓ ${upgraded.join(", ")} on ${version}`
      : `✓ nothing to upgrade: the hosts run ${version}'s proxy and monitor code already`,
  );
});
