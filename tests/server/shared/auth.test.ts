import { expect, test } from "bun:test";
import { checkAdmin } from "../../../server/shared/auth.ts";

const TOKEN = "0123456789abcdef0123";
const basic = (user: string, password: string) =>
  `Basic ${Buffer.from(`${user}:${password}`).toString("base64")}`;

test("a bearer token or a Basic password equal to the token is accepted", () => {
  expect(checkAdmin(`Bearer ${TOKEN}`, TOKEN)).toEqual({ ok: true, user: "admin" });
  expect(checkAdmin(`bearer ${TOKEN}`, TOKEN)).toEqual({ ok: true, user: "admin" });
  expect(checkAdmin(basic("ann", TOKEN), TOKEN)).toEqual({ ok: true, user: "ann" });
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

test("a user name cannot smuggle odd characters into the audit", () => {
  expect(checkAdmin(basic("ann<script>\n", TOKEN), TOKEN)).toEqual({ ok: true, user: "annscript" });
});
