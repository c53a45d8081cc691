import { expect, test } from "bun:test";
import { leastRecentlyUsed } from "../../../scripts/lib/build-cache.ts";

test("a build cache lets go of the least recently used past what it keeps", () => {
  const entries = [
    { name: "a", used: 3 },
    { name: "b", used: 1 },
    { name: "c", used: 4 },
    { name: "d", used: 2 },
  ];
  expect(leastRecentlyUsed(entries, 2).map((e) => e.name)).toEqual(["d", "b"]);
  expect(leastRecentlyUsed(entries, 4)).toEqual([]);
  expect(entries.map((e) => e.name)).toEqual(["a", "b", "c", "d"]);
});
