import { expect, test } from "bun:test";
import { LinkedSet } from "../../../server/proxy/linked-set.ts";

test("values come out from anywhere in the list, and the rest stay in order", () => {
  const set = new LinkedSet<string>();
  const a = set.add("a");
  const b = set.add("b");
  const c = set.add("c");
  expect(set.values()).toEqual(["c", "b", "a"]);
  set.remove(b);
  expect(set.values()).toEqual(["c", "a"]);
  set.remove(c);
  expect(set.values()).toEqual(["a"]);
  set.remove(a);
  expect(set.values()).toEqual([]);
  expect(set.size).toBe(0);
  const d = set.add("d");
  expect(set.values()).toEqual(["d"]);
  expect(d.owner).toBe(set);
});

test("a link taken out twice, or after a drain, or given to another set, changes nothing", () => {
  const set = new LinkedSet<number>();
  const other = new LinkedSet<number>();
  const one = set.add(1);
  set.add(2);
  set.remove(one);
  set.remove(one);
  other.remove(set.add(3));
  expect(set.values()).toEqual([3, 2]);
  expect(set.size).toBe(2);
  expect(set.drain()).toEqual([3, 2]);
  expect(set.size).toBe(0);
  set.remove(one);
  expect(set.values()).toEqual([]);
  const four = set.add(4);
  expect(set.values()).toEqual([4]);
  expect(four.prev).toBeUndefined();
  expect(four.next).toBeUndefined();
});
