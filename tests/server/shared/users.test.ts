import { expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { checkAdmin, checkCredentials } from "../../../server/shared/auth.ts";
import {
  addUser,
  formatUsers,
  newUserToken,
  parseUsers,
  removeUser,
  tokenHash,
  type User,
} from "../../../server/shared/users.ts";
import { usersFile } from "../../../server/shared/users-file.ts";
import { eventually } from "../../helpers/server.ts";
import { fileTempDir } from "../../helpers/tmp.ts";

const ann: User = { name: "ann", hash: tokenHash("a".repeat(64)), added: "2026-11-30" };

test("a users file holds names and token hashes, read back as written", () => {
  const text = formatUsers([ann, { ...ann, name: "bob.ops", hash: tokenHash("b") }]);
  expect(text).not.toContain("a".repeat(64));
  expect(parseUsers(text, "users")).toEqual([
    ann,
    { ...ann, name: "bob.ops", hash: tokenHash("b") },
  ]);
});

test("a new token is 32 random bytes, hex, none repeating itself", () => {
  const tokens = Array.from({ length: 100 }, newUserToken);
  for (const token of tokens) {
    expect(token).toMatch(/^[0-9a-f]{64}$/);
    // the demo once made its user's token of one UUID twice over (122 random bits)
    expect(token.slice(32)).not.toBe(token.slice(0, 32));
  }
  expect(new Set(tokens).size).toBe(100);
});

test("a broken line names the file, the line and the fix", () => {
  expect(() => parseUsers("# c\nann sha256:xyz\n", "/etc/users")).toThrow(
    "/etc/users, line 2: not NAME sha256:HEX — manage the file with bun run users",
  );
  const twice = `${formatUsers([ann])}ann sha256:${ann.hash}\n`;
  expect(() => parseUsers(twice, "u")).toThrow("u, line 3: ann is listed twice");
  expect(() => parseUsers(`admin sha256:${ann.hash}\n`, "u")).toThrow("choose another name");
  expect(() => parseUsers(`Ann sha256:${ann.hash}\n`, "u")).toThrow('user name "Ann" is not valid');
});

test("adding and removing users refuse what cannot be done, saying why", () => {
  expect(addUser([], ann)).toEqual([ann]);
  expect(() => addUser([ann], ann)).toThrow("ann already exists — remove it first");
  expect(() => addUser([], { ...ann, name: "admin" })).toThrow("choose another name");
  expect(removeUser([ann], "ann")).toEqual([]);
  expect(() => removeUser([ann], "zed")).toThrow("no user zed — the users are: ann");
});

test("a running server sees a changed users file at its next look (a second on a server), and a broken one as none", async () => {
  const file = join(fileTempDir("dropship-users-"), "users");
  writeFileSync(file, formatUsers([ann]));
  const said: string[] = [];
  const users = usersFile(file, (line) => said.push(line), 100);
  expect(users().map((u) => u.name)).toEqual(["ann"]);
  writeFileSync(file, formatUsers([ann, { ...ann, name: "bob" }]));
  await eventually(async () => users().length === 2, 5000, "bob added");
  expect(users().map((u) => u.name)).toEqual(["ann", "bob"]);
  writeFileSync(file, "garbage\n");
  await eventually(async () => users().length === 0, 5000, "the broken file read");
  expect(users()).toEqual([]);
  expect(said).toEqual([
    `users file: ${file}, line 1: not NAME sha256:HEX — manage the file with bun run users; only the admin token is accepted until it is fixed`,
  ]);
});

test("a token no one holds makes the file be looked at at once: a user just added is let in, not counted as a guess", () => {
  const file = join(fileTempDir("dropship-users-"), "users");
  writeFileSync(file, formatUsers([ann]));
  const users = usersFile(file, () => {});
  const bobToken = "b".repeat(64);
  const asBob = `Bearer ${bobToken}`;
  expect(checkCredentials(asBob, "admin-token", users)).toEqual({
    ok: false,
    reason: "wrong credentials",
  });
  // within the second the file is otherwise left alone for
  writeFileSync(
    file,
    formatUsers([ann, { name: "bob", hash: tokenHash(bobToken), added: "2026-12-04" }]),
  );
  expect(checkAdmin(asBob, "admin-token", users())).toMatchObject({ ok: false });
  expect(checkCredentials(asBob, "admin-token", users)).toEqual({ ok: true, user: "bob" });
  expect(checkCredentials("Bearer admin-token", "admin-token", users)).toEqual({
    ok: true,
    user: "admin",
  });
});
