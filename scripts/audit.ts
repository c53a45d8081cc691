import { readAudit } from "../server/shared/state/audit.ts";
import { AUDIT_LENGTH } from "../server/shared/state/keys.ts";
import { describeEntry } from "./lib/audit-view.ts";
import { runVerb, UsageError, type VerbSpec } from "./lib/cli.ts";
import { cliRedis } from "./lib/redis.ts";
import { printTable } from "./lib/table.ts";

const SPEC = {
  verb: "audit",
  usage: ["audit [--kind KIND] [--target NAME] [--actor WHO] [--limit N]"],
  about: `Who changed what, newest first, from the fleet's audit stream: every change of a flag,
the canary, the routing table, an alert or maintenance, and every action recorded beside them
(exec, logs, env, restart, freeze, upgrade, backup, restore), each with what it changed.`,
  options: {
    kind: {
      type: "string",
      value: "KIND",
      description: "only this kind: flag, canary, backend, alert, maintenance, exec, logs, …",
    },
    target: { type: "string", value: "NAME", description: "only changes of this flag, host, …" },
    actor: { type: "string", value: "WHO", description: "only those whose actor contains WHO" },
    limit: { type: "string", value: "N", description: "the newest N entries (default 50)" },
  },
  env: ["REDIS_URL"],
  positionals: 0,
} satisfies VerbSpec;

await runVerb(SPEC, async ({ values }) => {
  const limit = Number(values.limit ?? "50");
  if (!Number.isInteger(limit) || limit < 1 || limit > AUDIT_LENGTH)
    throw new UsageError(
      `--limit ${values.limit} is not valid — give a whole number from 1 to ${AUDIT_LENGTH}`,
    );
  const filter = {
    ...(typeof values.kind === "string" ? { kind: values.kind } : {}),
    ...(typeof values.target === "string" ? { target: values.target } : {}),
    ...(typeof values.actor === "string" ? { actor: values.actor } : {}),
  };
  const redis = await cliRedis();
  try {
    const entries = await readAudit(redis, { ...filter, limit });
    if (entries.length === 0) {
      const which = Object.entries(filter).map(([key, value]) => `${key} ${value}`);
      return console.log(
        which.length > 0 ? `no audit entries with ${which.join(", ")}` : "no audit entries",
      );
    }
    printTable([
      ["WHEN", "KIND", "TARGET", "WHAT", "BY"],
      ...entries.map((e) => [e.at, e.kind, e.target, oneLine(describeEntry(e)), e.actor]),
    ]);
  } finally {
    redis.disconnect();
  }
});

/** A cell stays on its row: line breaks become spaces, and a long one is cut. */
function oneLine(text: string): string {
  const flat = text.replace(/\s+/g, " ").trim();
  return flat.length > 100 ? `${flat.slice(0, 99)}…` : flat;
}
