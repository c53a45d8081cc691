import { existsSync, readFileSync } from "node:fs";
import { fileStamp } from "./file-stamp.ts";
import { parseUsers, type User } from "./users.ts";

/**
 * The users, as last read; `"now"` looks at the file whatever the time since the last look
 * (for a token no one holds yet: it may be a user just added).
 */
export type UsersSource = (when?: "now") => readonly User[];

/**
 * The users in a users file, read again when the file changes (looked at no more than once a
 * second, or at once when asked), so `bun run users add` takes effect without a restart. A
 * broken file at start-up is an error; broken later, or missing, it means no named users
 * until it is there and right — the admin token still works — and that is said once.
 */
export function usersFile(file: string, log: (line: string) => void, everyMs = 1000): UsersSource {
  let users: User[] = [];
  if (existsSync(file)) users = loadUsersFile(file);
  else log(`users file: none at ${file} yet; only the admin token is accepted until it is there`);
  let stamp = fileStamp(file);
  let lookedAt = Date.now();
  let said = "";
  return (when) => {
    if (when !== "now" && Date.now() - lookedAt < everyMs) return users;
    lookedAt = Date.now();
    const now = fileStamp(file);
    if (now === stamp) return users;
    stamp = now;
    try {
      users = loadUsersFile(file);
      said = "";
    } catch (error) {
      users = [];
      const line = `users file: ${(error as Error).message}; only the admin token is accepted until it is fixed`;
      if (line !== said) log(line);
      said = line;
    }
    return users;
  };
}

export function loadUsersFile(file: string): User[] {
  return parseUsers(readFileSync(file, "utf8"), file);
}
