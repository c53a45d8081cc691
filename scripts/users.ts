import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import { fleetSource, readFleet } from "../pipeline/fleet.ts";
import { loadLocatedConfig } from "../server/shared/config/locate.ts";
import { localPaths } from "../server/shared/config/paths.ts";
import { hostCommands, USERS_ON_HOST } from "../server/shared/host/layout.ts";
import { targetOf, withSsh } from "../server/shared/ssh.ts";
import {
  addUser,
  formatUsers,
  newUserToken,
  parseUsers,
  removeUser,
  tokenHash,
  type User,
  UsersFileError,
} from "../server/shared/users.ts";
import { auditAction } from "./lib/audit.ts";
import { ArgumentError, FLEET_ENV, runVerb, UsageError, type VerbSpec } from "./lib/cli.ts";
import { printTable } from "./lib/table.ts";

const SPEC = {
  verb: "users",
  usage: ["users list", "users add NAME", "users remove NAME"],
  about: `Named users, each with a token of their own: pushes, flag changes and canary changes are
recorded under the token's owner (the admin token is the user admin). add prints the new token
once; only its hash is kept, in DROPSHIP_USERS_FILE. The receiver sees a change within a second;
the proxies are given the new list over SSH when the fleet is known. Audited (users), with
REDIS_URL.`,
  env: ["DROPSHIP_USERS_FILE", "REDIS_URL", ...FLEET_ENV],
  positionals: 2,
} satisfies VerbSpec;

await runVerb(SPEC, async ({ positionals: [verb, name, ...extra] }) => {
  const { config } = loadLocatedConfig(() => {});
  const paths = localPaths(config);
  const file = paths.users;
  const users = existsSync(file) ? readUsers(file) : [];
  if (verb === "list" && !name) {
    if (users.length === 0)
      return console.log(`no named users in ${file} — bun run users add NAME`);
    return printTable([["USER", "ADDED"], ...users.map((u) => [u.name, u.added])]);
  }
  if ((verb !== "add" && verb !== "remove") || !name || extra.length > 0)
    throw new ArgumentError(
      verb ? `cannot ${verb} ${name ?? ""}`.trim() : "say list, add or remove",
    );
  const token = newUserToken();
  const next = changed(() =>
    verb === "add"
      ? addUser(users, {
          name,
          hash: tokenHash(token),
          added: new Date().toISOString().slice(0, 10),
        })
      : removeUser(users, name),
  );
  writeUsers(file, next);
  if (verb === "add") {
    console.log(`added ${name}; their token (shown this once, keep it in a password manager):`);
    console.log(`  ${token}`);
    console.log(
      "push with it as the password: git remote set-url prod http://NAME:TOKEN@HOST:9000/app.git",
    );
  } else {
    console.log(`removed ${name}; their token no longer works`);
  }
  // who may push and sign in is a change like any flag's: the stream says who made it
  const unaudited = await auditAction(
    { kind: "users", target: name, what: verb === "add" ? "added, with a new token" : "removed" },
    [],
  );
  if (unaudited) console.log(unaudited);
  await giveProxies(file, config, paths);
});

function readUsers(file: string): User[] {
  return changed(() => parseUsers(readFileSync(file, "utf8"), file));
}

function changed<T>(work: () => T): T {
  try {
    return work();
  } catch (error) {
    if (error instanceof UsersFileError) throw new UsageError(error.message);
    throw error;
  }
}

/** Written whole and renamed into place, so a server never reads half a file. */
function writeUsers(file: string, users: User[]) {
  mkdirSync(dirname(file), { recursive: true });
  const staged = `${file}.new`;
  writeFileSync(staged, formatUsers(users), { mode: 0o600 });
  chmodSync(staged, 0o600);
  renameSync(staged, file);
}

async function giveProxies(
  file: string,
  config: ReturnType<typeof loadLocatedConfig>["config"],
  paths: ReturnType<typeof localPaths>,
) {
  const source = fleetSource(process.env, config, paths);
  const fleet = source ? readFleet(source.inventories) : undefined;
  const proxies = fleet?.hosts.filter((h) => h.role === "proxy") ?? [];
  if (!fleet || proxies.length === 0)
    return console.log(
      "no proxy hosts known: the receiver has the change; setup gives it to proxies",
    );
  for (const host of proxies) {
    await withSsh(targetOf(host, fleet), async (ssh) => {
      const staged = `${USERS_ON_HOST}.new`;
      await ssh.put(file, staged);
      await ssh.check(hostCommands.installUsers(staged));
    });
    console.log(`${host.name}: has the new list`);
  }
}
