import { expect, test } from "bun:test";
import { actorFrom } from "../../../scripts/lib/redis.ts";

test("the audit's actor: DROPSHIP_ACTOR, else the git identity, else a login that means something", () => {
  const host = "laptop";
  expect(actorFrom({ explicit: "ann@ops", gitEmail: "ann@example.com", host })).toBe("ann@ops");
  expect(actorFrom({ gitEmail: "ann@example.com", login: "root", host })).toBe("ann@example.com");
  expect(actorFrom({ login: "ann", host })).toBe("ann@laptop");
  // what used to be recorded as unknown@vm
  expect(actorFrom({ login: "unknown", uid: 1000, host: "vm" })).toBe("uid1000@vm");
  expect(actorFrom({ uid: 0, host: "vm" })).toBe("uid0@vm");
});
