import { expect, test } from "bun:test";
import {
  type Hold,
  holdStarted,
  judgeCredentials,
  WrongCredentials,
} from "../../../server/shared/wrong-credentials.ts";

const policy = { limit: 3, windowMs: 60_000, tracked: 100 };

test("an address is held once it gives the limit of wrong credentials within the window", () => {
  const throttle = new WrongCredentials(policy);
  expect(throttle.failed("203.0.113.9", 0)).toBeUndefined();
  expect(throttle.failed("203.0.113.9", 1_000)).toBeUndefined();
  expect(throttle.held("203.0.113.9", 1_500)).toBeUndefined();
  const hold = throttle.failed("203.0.113.9", 2_000);
  expect(hold?.retryAfterS).toBe(60);
  expect(hold?.reason).toContain("3 wrong credentials came from this address within 60 s");
  expect(throttle.held("203.0.113.9", 2_000)?.retryAfterS).toBe(60);
  expect(throttle.held("203.0.113.9", 40_500)?.retryAfterS).toBe(22);
  expect(throttle.held("203.0.113.9", 40_500)?.reason).toContain("Wait 22 s");
  // wrong tokens sent while held neither extend the hold nor count towards the next
  expect(throttle.failed("203.0.113.9", 50_000)).toBeUndefined();
  expect(throttle.held("203.0.113.9", 61_999)?.retryAfterS).toBe(1);
  expect(throttle.held("203.0.113.9", 62_000)).toBeUndefined();
  expect(throttle.failed("203.0.113.9", 62_000)).toBeUndefined();
  expect(throttle.failed("203.0.113.9", 62_100)).toBeUndefined();
});

test("only the address that guessed is held, IPv6 by its /64", () => {
  const throttle = new WrongCredentials(policy);
  for (let i = 1; i <= 3; i++) throttle.failed(`2001:db8:1:2::${i}`, i);
  expect(throttle.held("2001:db8:1:2:ffff::9", 10)).toBeDefined();
  expect(throttle.held("2001:db8:1:3::1", 10)).toBeUndefined();
  expect(throttle.held("203.0.113.9", 10)).toBeUndefined();
  expect(throttle.held("::ffff:203.0.113.9", 10)).toBeUndefined();
});

test("wrong credentials older than the window are forgotten, and a right one forgets them all", () => {
  const throttle = new WrongCredentials(policy);
  throttle.failed("198.51.100.1", 0);
  throttle.failed("198.51.100.1", 30_000);
  // the first has left the window: two within it, not three
  expect(throttle.failed("198.51.100.1", 60_500)).toBeUndefined();
  expect(throttle.failed("198.51.100.1", 61_000)).toBeDefined();

  throttle.failed("198.51.100.2", 0);
  throttle.failed("198.51.100.2", 1);
  throttle.succeeded("198.51.100.2");
  expect(throttle.failed("198.51.100.2", 2)).toBeUndefined();
  expect(throttle.failed("198.51.100.2", 3)).toBeUndefined();
  expect(throttle.failed("198.51.100.2", 4)).toBeDefined();
});

test("memory is bounded: past `tracked` addresses the longest-known is forgotten", () => {
  const throttle = new WrongCredentials({ ...policy, tracked: 4 });
  for (let i = 0; i < 1000; i++) throttle.failed(`10.0.${i >> 8}.${i & 255}`, i);
  expect(throttle.size).toBe(4);
  throttle.failed("10.0.3.231", 2_000);
  expect(throttle.failed("10.0.3.231", 2_001)).toBeDefined();
  // a hold that has run out is dropped when next asked about
  expect(throttle.held("10.0.3.231", 70_000)).toBeUndefined();
  expect(throttle.size).toBe(3);
});

test("judgeCredentials: a held address is refused unchecked; only wrong credentials count; a right one clears", () => {
  const throttle = new WrongCredentials(policy);
  let checked = 0;
  const check = (authorization: string | null) => {
    checked++;
    return authorization === "Bearer right"
      ? ({ ok: true, user: "ann" } as const)
      : ({
          ok: false,
          reason: authorization ? "wrong credentials" : "credentials required",
        } as const);
  };
  const judge = (address: string | undefined, authorization: string | null, now = 0) =>
    judgeCredentials(throttle, address, authorization, check, now);
  // asking without credentials, as git does first, never counts
  for (let i = 0; i < 5; i++)
    expect(judge("198.51.100.1", null)).toEqual({
      ok: false,
      status: 401,
      reason: "credentials required",
    });
  expect(judge("198.51.100.1", "Bearer right")).toEqual({ ok: true, status: 200, user: "ann" });
  expect(judge("198.51.100.1", "Bearer a")).toMatchObject({
    status: 401,
    reason: "wrong credentials",
  });
  expect(judge("198.51.100.1", "Bearer b")).not.toHaveProperty("started");
  const third = judge("198.51.100.1", "Bearer c");
  expect(third).toMatchObject({ status: 401, started: { retryAfterS: 60 } });
  expect(
    holdStarted(
      "198.51.100.1",
      "admin credentials",
      throttle,
      (third as { started: Hold }).started,
    ),
  ).toBe("198.51.100.1 gave wrong admin credentials 3 times within 60 s: refused for 60 s");
  const before = checked;
  expect(judge("198.51.100.1", "Bearer right", 1_000)).toMatchObject({
    status: 429,
    hold: { retryAfterS: 59 },
  });
  expect(checked).toBe(before);
  // a right token before the limit clears the count
  judge("198.51.100.2", "Bearer a");
  judge("198.51.100.2", "Bearer b");
  judge("198.51.100.2", "Bearer right");
  judge("198.51.100.2", "Bearer c");
  expect(judge("198.51.100.2", "Bearer d")).not.toHaveProperty("started");
  // no address (the control host itself): never held
  for (let i = 0; i < 10; i++) judge(undefined, "Bearer wrong");
  expect(judge(undefined, "Bearer right")).toMatchObject({ ok: true });
});
