import {
  BUILT_IN_FLAGS,
  describeFlag,
  parseFlag,
  unknownFlagError,
} from "../server/shared/flags/model.ts";
import { FlagName, Rollout } from "../server/shared/flags/schema.ts";
import { typedFault } from "../server/shared/records/faults.ts";
import { readAudit } from "../server/shared/state/audit.ts";
import { changeFlag, deleteFlag, listFlags } from "../server/shared/state/flags.ts";
import type { RedisClient } from "../server/shared/state/redis.ts";
import { ArgumentError, type ParsedArgs, runVerb, UsageError, type VerbSpec } from "./lib/cli.ts";
import { actor, cliRedis } from "./lib/redis.ts";
import { printTable } from "./lib/table.ts";

const SPEC = {
  verb: "flags",
  usage: [
    "flags list",
    "flags set NAME on|off [--rollout N] [--create]",
    "flags history [NAME] [--limit N]",
    "flags delete NAME",
  ],
  about: `Reads and changes the feature flags in Redis. Every server sees a change within
milliseconds; every change is audited with who made it. --rollout N turns a flag on for N%
of clients, the same clients every time; raising N only adds clients. A new flag needs
--create. delete takes away a flag that is off (its feature shipped, its code gone): no one
sees a change, and its history stays.`,
  options: {
    rollout: {
      type: "string",
      value: "N",
      description: "with set: on for N% of clients (default 100)",
    },
    create: { type: "boolean", description: "with set: make a flag that does not exist yet" },
    limit: {
      type: "string",
      value: "N",
      description: "with history: the newest N changes (default 20)",
    },
  },
  env: ["REDIS_URL", "DROPSHIP_ACTOR"],
  positionals: 3,
} satisfies VerbSpec;

type Values = ParsedArgs["values"];

await runVerb(SPEC, async ({ values, positionals: [verb, ...rest] }) => {
  if (verb === "list" && rest.length === 0) return withRedis(list);
  if (verb === "set") return withRedis((redis) => set(redis, rest, values));
  if (verb === "history") return withRedis((redis) => history(redis, rest, values));
  if (verb === "delete") return withRedis((redis) => remove(redis, rest));
  throw new ArgumentError(
    verb
      ? `unknown command ${verb} — use list, set, history or delete`
      : "say list, set, history or delete",
  );
});

async function withRedis(work: (redis: RedisClient) => Promise<void>) {
  const redis = await cliRedis();
  try {
    await work(redis);
  } finally {
    redis.disconnect();
  }
}

async function list(redis: RedisClient) {
  const stored = await listFlags(redis);
  const names = new Set(stored.map((f) => f.name));
  const missing = Object.keys(BUILT_IN_FLAGS).filter((name) => !names.has(name));
  const rows = [
    ["FLAG", "STATE", "CHANGED", "BY"],
    ...stored.map((f) => [f.name, describeFlag(f), f.updatedAt, f.updatedBy]),
    ...missing.map((name) => [name, "off (never set)", "", ""]),
  ];
  printTable(rows);
}

async function set(redis: RedisClient, args: string[], values: Values) {
  const [name, state, ...extra] = args;
  if (!name || !state || extra.length > 0) throw new ArgumentError("set needs NAME and on|off");
  const nameError = typedFault(FlagName, name, "flag name");
  if (nameError) throw new UsageError(nameError);
  if (state !== "on" && state !== "off") {
    // a share where the state goes: what `--rollout` is for
    const share = /^(\d{1,3})%?$/.exec(state)?.[1];
    const hint =
      share === undefined
        ? ""
        : ` (on for ${share}% of clients: bun run flags set ${name} on --rollout ${share})`;
    throw new UsageError(`state ${JSON.stringify(state)} is not valid — say on or off${hint}`);
  }
  const rolloutText = values.rollout as string | undefined;
  const fault = rolloutText === undefined ? undefined : typedFault(Rollout, rolloutText, "rollout");
  if (fault) throw new UsageError(fault);
  const rollout = rolloutText === undefined ? 100 : Number(rolloutText);

  const builtIn = name in BUILT_IN_FLAGS;
  const mode = values.create === true || builtIn ? "create" : "update";
  try {
    const result = await changeFlag(
      redis,
      name,
      { enabled: state === "on", rollout },
      actor(),
      mode,
    );
    const before = result.old ? describeFlag(result.old) : "new";
    console.log(`${name}: ${before} → ${describeFlag(result.now)}`);
  } catch (error) {
    if ((error as Error).name !== "UnknownFlagError") throw error;
    const known = [
      ...new Set([...(await listFlags(redis)).map((f) => f.name), ...Object.keys(BUILT_IN_FLAGS)]),
    ];
    throw new UsageError(unknownFlagError(name, known));
  }
}

async function remove(redis: RedisClient, args: string[]) {
  const [name, ...extra] = args;
  if (!name || extra.length > 0) throw new ArgumentError("delete needs one NAME");
  const nameError = typedFault(FlagName, name, "flag name");
  if (nameError) throw new UsageError(nameError);
  try {
    const was = await deleteFlag(redis, name, actor(), name in BUILT_IN_FLAGS);
    console.log(
      `${name}: ${describeFlag(was)} → deleted (its history stays: bun run flags history ${name})`,
    );
  } catch (error) {
    if ((error as Error).name === "FlagRefusedError")
      throw new UsageError((error as Error).message);
    if ((error as Error).name !== "UnknownFlagError") throw error;
    throw await noSuchFlag(redis, name);
  }
}

/** An unknown flag where nothing is made: the closest name, without --create's hint. */
async function noSuchFlag(redis: RedisClient, name: string): Promise<UsageError> {
  const known = (await listFlags(redis)).map((f) => f.name);
  return new UsageError(
    unknownFlagError(name, known).replace(/;? ?\(?--create makes a new one\)?/, ""),
  );
}

async function history(redis: RedisClient, args: string[], values: Values) {
  const [name, ...extra] = args;
  if (extra.length > 0) throw new ArgumentError(`unexpected ${extra.join(" ")}`);
  const limit = Number(values.limit ?? "20");
  if (!Number.isInteger(limit) || limit < 1) {
    throw new UsageError(`--limit ${values.limit} is not valid — give a whole number above 0`);
  }
  const entries = await readAudit(redis, { kind: "flag", target: name, limit });
  // a deleted flag has a history, and no more than that
  if (name && entries.length === 0 && !(await listFlags(redis)).some((f) => f.name === name))
    throw await noSuchFlag(redis, name);
  const rows = [["WHEN", "FLAG", "FROM", "TO", "BY"]];
  for (const entry of entries) {
    const old = parseFlag(entry.old);
    const now = parseFlag(entry.new);
    rows.push([
      entry.at,
      entry.target,
      old ? describeFlag(old) : "new",
      now ? describeFlag(now) : entry.new === "" ? "removed" : "?",
      entry.actor,
    ]);
  }
  if (entries.length === 0)
    console.log(name ? `no changes to ${name} recorded` : "no flag changes recorded");
  else printTable(rows);
}
