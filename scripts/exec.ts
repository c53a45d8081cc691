import { readFleet } from "../pipeline/fleet.ts";
import { auditAction } from "./lib/audit.ts";
import { ArgumentError, FLEET_ENV, runVerb, UsageError, type VerbSpec } from "./lib/cli.ts";
import { execPlan, onTerminal } from "./lib/exec-plan.ts";
import { connectAll } from "./lib/fleet-ssh.ts";
import { receiverSettings } from "./lib/receiver-env.ts";

const SPEC = {
  verb: "exec",
  usage: ["exec [-i] [--app] HOST -- COMMAND…", "exec [--app] HOST"],
  about: `Runs COMMAND (a shell command line) on one host of the fleet as root, over the SSH connection
whose host key is pinned, with its output as it comes and its exit code as this command's.
With -i it runs on a terminal on the host, every key going there (a REPL, top); with no
COMMAND, root's shell does. --app runs it as the app runs: in the current release, as the
app's user, with the app's settings (a console, a one-off task). Audited before it runs: on
the host (/srv/dropship/audit.log) and in the fleet's audit stream when REDIS_URL is set.`,
  options: {
    interactive: {
      type: "boolean",
      short: "i",
      description:
        "run COMMAND on a terminal on the host, with this one's keys (needs a terminal here)",
    },
    app: {
      type: "boolean",
      short: "a",
      description: "as the app: its current release, its user, its settings (an app host only)",
    },
  },
  env: [...FLEET_ENV, "REDIS_URL", "DROPSHIP_ACTOR"],
  positionals: 1,
} satisfies VerbSpec;

await runVerb(SPEC, async ({ positionals: [name], rest, values }) => {
  const command = rest.join(" ");
  if (!name) throw new ArgumentError("name a host, then the command after -- (none: a shell)");
  const plan = execPlan(
    command,
    { interactive: values.interactive === true, app: values.app === true },
    process.stdin.isTTY === true,
  );
  const settings = receiverSettings();
  const fleet = readFleet(settings.fleet.inventories);
  const host = fleet.hosts.find((h) => h.name === name);
  if (!host) {
    // a role is not taken here: one command on several hosts at once is a different tool
    const known = fleet.hosts.filter((h) => h.role === name).map((h) => h.name);
    throw new UsageError(
      known.length > 0
        ? `${name} is a role; name one of its hosts: ${known.join(", ")}`
        : `no host ${name} in the fleet (${fleet.hosts.map((h) => h.name).join(", ") || "none"})`,
    );
  }
  if (values.app && host.role !== "production" && host.role !== "staging")
    throw new UsageError(
      `${name} is a ${host.role} host, where the app does not run: name a production or staging host for --app`,
    );
  const [ssh] = await connectAll(fleet, [host]);
  if (!ssh) return;
  try {
    const unaudited = await auditAction({ kind: "exec", target: host.name, what: plan.audited }, [
      ssh,
    ]);
    if (unaudited) console.error(unaudited);
    process.exitCode = plan.terminal
      ? await onTerminal(ssh, plan.remote)
      : await ssh.stream(
          plan.remote ?? "",
          (chunk) => process.stdout.write(chunk),
          (chunk) => process.stderr.write(chunk),
        );
  } finally {
    ssh.close();
  }
});
