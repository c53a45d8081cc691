import { typedFault } from "../server/shared/records/faults.ts";
import { backendIdFor, backendUrlError, type Track } from "../server/shared/routing/model.ts";
import { TrackName } from "../server/shared/routing/schema.ts";
import type { RedisClient } from "../server/shared/state/redis.ts";
import { listBackends, putBackend, removeBackend } from "../server/shared/state/routing.ts";
import { ArgumentError, runVerb, UsageError, type VerbSpec } from "./lib/cli.ts";
import { actor, cliRedis } from "./lib/redis.ts";
import { printTable } from "./lib/table.ts";

const SPEC = {
  verb: "backends",
  usage: [
    "backends list",
    "backends add production|staging URL",
    "backends remove URL",
    "backends drain URL",
  ],
  about: `Reads and changes the proxy's routing table by hand. Every proxy applies a change within
milliseconds; every change is audited. drain stops new requests to a backend while its
in-flight ones finish; add it again to undo.`,
  env: ["REDIS_URL", "DROPSHIP_ACTOR"],
  positionals: 3,
} satisfies VerbSpec;

await runVerb(SPEC, async ({ positionals: [verb, ...rest] }) => {
  const redis = await cliRedis();
  try {
    if (verb === "list" && rest.length === 0) return await list(redis);
    if (verb === "add" && rest.length === 2)
      return await add(redis, rest[0] as string, rest[1] as string);
    if (verb === "remove" && rest.length === 1) return await remove(redis, rest[0] as string);
    if (verb === "drain" && rest.length === 1) return await drain(redis, rest[0] as string);
    throw new ArgumentError(
      verb ? `cannot ${verb} ${rest.join(" ")}`.trim() : "say list, add, remove or drain",
    );
  } finally {
    redis.disconnect();
  }
});

async function list(redis: RedisClient) {
  const backends = await listBackends(redis);
  if (backends.length === 0)
    return console.log("no backends; add one with: bun run backends add production URL");
  printTable([
    ["ID", "TRACK", "URL", "STATE"],
    ...backends.map((b) => [b.id, b.track, b.url, b.draining ? "draining" : "in rotation"]),
  ]);
}

function checkedUrl(text: string): string {
  const fault = backendUrlError(text);
  if (fault) throw new UsageError(fault);
  return new URL(text).origin;
}

async function add(redis: RedisClient, track: string, text: string) {
  const trackFault = typedFault(TrackName, track, "track");
  if (trackFault) throw new UsageError(trackFault);
  const url = checkedUrl(text);
  const id = backendIdFor(url);
  const old = await putBackend(redis, { id, url, track: track as Track, draining: false }, actor());
  console.log(old ? `${id}: back in rotation as ${track}` : `${id}: added to ${track}`);
}

async function remove(redis: RedisClient, text: string) {
  const id = backendIdFor(checkedUrl(text));
  if (!(await removeBackend(redis, id, actor())))
    throw new UsageError(`no backend ${id} — see bun run backends list`);
  console.log(`${id}: removed`);
}

async function drain(redis: RedisClient, text: string) {
  const id = backendIdFor(checkedUrl(text));
  const backend = (await listBackends(redis)).find((b) => b.id === id);
  if (!backend) throw new UsageError(`no backend ${id} — see bun run backends list`);
  await putBackend(redis, { ...backend, draining: true }, actor());
  console.log(`${id}: draining — no new requests; in-flight ones finish`);
}
