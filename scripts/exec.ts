import { readFleet } from "../pipeline/fleet.ts";
import { auditAction } from "./lib/audit.ts";
import { ArgumentError, FLEET_ENV, runVerb, UsageError, type VerbSpec } from "./lib/cli.ts";
import { connectAll } from "./lib/fleet-ssh.ts";
import { receiverSettings } from "./lib/receiver-env.ts";
import { execMode, onTerminal } from "./lib/terminal.ts";

const SPEC = {
  verb: "exec",
  usage: ["exec HOST -- COMMAND…", "exec -i HOST -- COMMAND…", "exec HOST"],
  about: `Runs COMMAND (a shell command line) on one host of the fleet as root, over the SSH connection
whose host key is pinned, with its output as it comes and its exit code as this command's.
With -i it runs on a terminal on the host, every key going there (a REPL, top); with no
COMMAND, root's shell does. Audited before it runs: on the host (/srv/dropship/audit.log)
and in the fleet's audit stream when REDIS_URL is set.`,
  options: {
    interactive: {
      type: "boolean",
      short: "i",
      description:
        "run COMMAND on a terminal on the host, with this one's keys (needs a terminal here)",
    },
  },
  env: [...FLEET_ENV, "REDIS_URL", "DROPSHIP_ACTOR"],
  positionals: 1,
} satisfies VerbSpec;

await runVerb(SPEC, async ({ positionals: [name], rest, values }) => {
  const command = rest.join(" ");
  if (!name) throw new ArgumentError("name a host, then the command after -- (none: a shell)");
  const mode = execMode(command, values.interactive === true, process.stdin.isTTY === true);
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
  const [ssh] = await connectAll(fleet, [host]);
  if (!ssh) return;
  try {
    const what = !mode.terminal
      ? command
      : `${mode.command ?? "a shell"} (on a terminal: what is typed there is not recorded)`;
    const unaudited = await auditAction({ kind: "exec", target: host.name, what }, [ssh]);
    if (unaudited) console.error(unaudited);
    process.exitCode = mode.terminal
      ? await onTerminal(ssh, mode.command)
      : await ssh.stream(
          command,
          (chunk) => process.stdout.write(chunk),
          (chunk) => process.stderr.write(chunk),
        );
  } finally {
    ssh.close();
  }
});
