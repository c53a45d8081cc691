import { randomBytes } from "node:crypto";

/**
 * Named users: who holds which token. The users file keeps one line per user, `NAME
 * sha256:HEX ADDED`, never a token. SHA-256 without salt or stretching is enough here because
 * every token is 32 random bytes (`newUserToken`, as `bun run users add` makes them); there is
 * nothing to guess.
 */
export interface User {
  name: string;
  /** sha256 of the token, hex */
  hash: string;
  /** when it was added, ISO date */
  added: string;
}

const NAME = /^[a-z][a-z0-9._-]{0,31}$/;
const LINE = /^(\S+)\s+sha256:([0-9a-f]{64})(?:\s+(\S+))?$/;
/** The admin token's holder; no named user may take the name. */
export const ADMIN_USER = "admin";

export class UsersFileError extends Error {
  override name = "UsersFileError";
}

export function userNameError(name: string): string | undefined {
  if (name === ADMIN_USER)
    return `${ADMIN_USER} is the holder of DROPSHIP_ADMIN_TOKEN — choose another name`;
  if (NAME.test(name)) return undefined;
  return `user name ${JSON.stringify(name)} is not valid — use a lowercase letter, then up to 31 lowercase letters, digits, dots, dashes or underscores`;
}

/** A user's token: 32 random bytes, hex. */
export function newUserToken(): string {
  return randomBytes(32).toString("hex");
}

export function tokenHash(token: string): string {
  return new Bun.CryptoHasher("sha256").update(token).digest("hex");
}

/** The users in a users file; a line that is not one is an error naming the file and line. */
export function parseUsers(text: string, file: string): User[] {
  const users: User[] = [];
  text.split("\n").forEach((raw, index) => {
    const line = raw.trim();
    if (!line || line.startsWith("#")) return;
    const where = `${file}, line ${index + 1}`;
    const match = LINE.exec(line);
    if (!match)
      throw new UsersFileError(
        `${where}: not NAME sha256:HEX — manage the file with bun run users`,
      );
    const [, name = "", hash = "", added = ""] = match;
    const fault = userNameError(name);
    if (fault) throw new UsersFileError(`${where}: ${fault}`);
    if (users.some((u) => u.name === name))
      throw new UsersFileError(`${where}: ${name} is listed twice — remove one of the lines`);
    users.push({ name, hash, added });
  });
  return users;
}

export function formatUsers(users: readonly User[]): string {
  const header = "# dropship users: NAME sha256:TOKEN-HASH ADDED — written by bun run users\n";
  return header + users.map((u) => `${u.name} sha256:${u.hash} ${u.added}\n`).join("");
}

export function addUser(users: readonly User[], user: User): User[] {
  const fault = userNameError(user.name);
  if (fault) throw new UsersFileError(fault);
  if (users.some((u) => u.name === user.name))
    throw new UsersFileError(`${user.name} already exists — remove it first to give a new token`);
  return [...users, user];
}

export function removeUser(users: readonly User[], name: string): User[] {
  if (!users.some((u) => u.name === name)) {
    const known = users.map((u) => u.name).join(", ") || "none";
    throw new UsersFileError(`no user ${name} — the users are: ${known}`);
  }
  return users.filter((u) => u.name !== name);
}
