import { expect, test } from "bun:test";
import { rateBetween } from "../../../../server/shared/state/traffic.ts";

test("the request rate is the counter's growth over the time between readings", () => {
  expect(rateBetween({ count: 100, at: 1_000 }, { count: 350, at: 6_000 })).toBe(50);
  expect(rateBetween({ count: 100, at: 1_000 }, { count: 100, at: 2_000 })).toBe(0);
  // a restarted counter or no time passed is no traffic, never a negative or infinite rate
  expect(rateBetween({ count: 500, at: 1_000 }, { count: 20, at: 2_000 })).toBe(0);
  expect(rateBetween({ count: 1, at: 1_000 }, { count: 9, at: 1_000 })).toBe(0);
});
