import { typedFault } from "../server/shared/records/faults.ts";
import {
  type Backend,
  backendIdFor,
  backendUrlError,
  emptiesProduction,
  type Track,
} from "../server/shared/routing/model.ts";
import { TrackName } from "../server/shared/routing/schema.ts";
import type { RedisClient } from "../server/shared/state/redis.ts";
import { listBackends, putBackend, removeBackend } from "../server/shared/state/routing.ts";
import { ArgumentError, runVerb, UsageError, type VerbSpec } from "./lib/cli.ts";
import { actor, cliRedis } from "./lib/redis.ts";
import { printTable } from "./lib/table.ts";

const SPEC = {
  verb: "backends",
  usage: [
    "backends [list]",
    "backends add production|staging URL [--force]",
    "backends remove URL [--force]",
    "backends drain URL [--force]",
  ],
  about: `Reads and changes the proxy's routing table by hand. Every proxy applies a change within
milliseconds; every change is audited. drain stops new requests to a backend while its
in-flight ones finish; add it again to undo. Taking the last production backend in rotation
out (drain, remove, or add to staging) is refused without --force: every production visitor
would get a 503 (bun run maintenance on says why to them).`,
  options: {
    force: {
      type: "boolean",
      description: "take out the last production backend in rotation all the same",
    },
  },
  env: ["REDIS_URL", "DROPSHIP_ACTOR"],
  positionals: 3,
} satisfies VerbSpec;

await runVerb(SPEC, async ({ values, positionals: [verb, ...rest] }) => {
  const redis = await cliRedis();
  const force = values.force === true;
  try {
    if ((verb === undefined || verb === "list") && rest.length === 0) return await list(redis);
    if (verb === "add" && rest.length === 2)
      return await add(redis, rest[0] as string, rest[1] as string, force);
    if (verb === "remove" && rest.length === 1)
      return await remove(redis, rest[0] as string, force);
    if (verb === "drain" && rest.length === 1) return await drain(redis, rest[0] as string, force);
    throw new ArgumentError(`cannot ${verb} ${rest.join(" ")}`.trim());
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

async function add(redis: RedisClient, track: string, text: string, force: boolean) {
  const trackFault = typedFault(TrackName, track, "track");
  if (trackFault) throw new UsageError(trackFault);
  const url = checkedUrl(text);
  const id = backendIdFor(url);
  const backends = await listBackends(redis);
  if (track === "staging") refuseEmptying(backends, id, force);
  const before = backends.find((b) => b.id === id);
  if (before && before.track === track && !before.draining && before.url === url)
    return console.log(`${id}: in rotation already as ${track}`);
  await putBackend(redis, { id, url, track: track as Track, draining: false }, actor());
  if (!before) return console.log(`${id}: added to ${track}`);
  if (before.track !== track) return console.log(`${id}: moved from ${before.track} to ${track}`);
  console.log(`${id}: back in rotation as ${track}`);
}

async function remove(redis: RedisClient, text: string, force: boolean) {
  const id = backendIdFor(checkedUrl(text));
  refuseEmptying(await listBackends(redis), id, force);
  if (!(await removeBackend(redis, id, actor())))
    throw new UsageError(`no backend ${id} — see bun run backends list`);
  console.log(`${id}: removed`);
}

async function drain(redis: RedisClient, text: string, force: boolean) {
  const id = backendIdFor(checkedUrl(text));
  const backends = await listBackends(redis);
  const backend = backends.find((b) => b.id === id);
  if (!backend) throw new UsageError(`no backend ${id} — see bun run backends list`);
  refuseEmptying(backends, id, force);
  await putBackend(redis, { ...backend, draining: true }, actor());
  console.log(`${id}: draining — no new requests; in-flight ones finish`);
}

/** A person's slip must not take the site down; one who means it says --force. */
function refuseEmptying(backends: readonly Backend[], id: string, force: boolean) {
  const fault = emptiesProduction(backends, id);
  if (!fault) return;
  if (!force)
    throw new UsageError(
      `${fault} — add another first (bun run backends add production URL), or say --force (with bun run maintenance on, visitors are told why)`,
    );
  console.log(`(--force: ${fault})`);
}
