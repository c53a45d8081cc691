import { expect, test } from "bun:test";
import { checkAdmin } from "../../../server/shared/auth.ts";
import { tokenHash, type User } from "../../../server/shared/users.ts";

const TOKEN = "0123456789abcdef0123";
const basic = (user: string, password: string) =>
  `Basic ${Buffer.from(`${user}:${password}`).toString("base64")}`;

test("a bearer token or a Basic password equal to the token is accepted", () => {
  expect(checkAdmin(`Bearer ${TOKEN}`, TOKEN)).toEqual({ ok: true, user: "admin" });
  expect(checkAdmin(`bearer ${TOKEN}`, TOKEN)).toEqual({ ok: true, user: "admin" });
  expect(checkAdmin(basic("", TOKEN), TOKEN)).toEqual({ ok: true, user: "admin" });
});

test("missing, wrong or malformed credentials are refused with the reason", () => {
  expect(checkAdmin(null, TOKEN)).toEqual({ ok: false, reason: "credentials required" });
  expect(checkAdmin("Bearer nope", TOKEN)).toEqual({ ok: false, reason: "wrong credentials" });
  expect(checkAdmin(`Bearer ${TOKEN}x`, TOKEN)).toEqual({ ok: false, reason: "wrong credentials" });
  expect(checkAdmin(basic("ann", "nope"), TOKEN)).toEqual({
    ok: false,
    reason: "wrong credentials",
  });
  expect(checkAdmin("Basic bm9jb2xvbg==", TOKEN)).toEqual({
    ok: false,
    reason: "malformed Basic credentials",
  });
  expect(checkAdmin(`Token ${TOKEN}`, TOKEN)).toEqual({
    ok: false,
    reason: "use Bearer or Basic credentials",
  });
});

const ANN = "ann-token-0123456789abcdef";
const USERS: User[] = [
  { name: "ann", hash: tokenHash(ANN), added: "2026-11-30" },
  { name: "bob", hash: tokenHash("bob-token-0123456789abcdef"), added: "2026-11-30" },
];

test("who is acting comes from the token, never from the name typed in Basic auth", () => {
  expect(checkAdmin(basic("ann", TOKEN), TOKEN, USERS)).toEqual({ ok: true, user: "admin" });
  expect(checkAdmin(basic("bob", ANN), TOKEN, USERS)).toEqual({ ok: true, user: "ann" });
  expect(checkAdmin(`Bearer ${ANN}`, TOKEN, USERS)).toEqual({ ok: true, user: "ann" });
  expect(checkAdmin(basic("ann<script>\n", TOKEN), TOKEN)).toEqual({ ok: true, user: "admin" });
});

test("a removed user's token, or a hash given as the token, is refused", () => {
  expect(checkAdmin(`Bearer ${ANN}`, TOKEN, USERS.slice(1))).toEqual({
    ok: false,
    reason: "wrong credentials",
  });
  expect(checkAdmin(`Bearer ${tokenHash(ANN)}`, TOKEN, USERS)).toMatchObject({ ok: false });
});
