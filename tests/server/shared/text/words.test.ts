import { expect, test } from "bun:test";
import { counted, reasonOnly } from "../../../../server/shared/text/words.ts";

test("counts read as English", () => {
  expect(counted(1, "production host")).toBe("1 production host");
  expect(counted(3, "production host")).toBe("3 production hosts");
  expect(counted(0, "host")).toBe("0 hosts");
});

test("a scaling reason loses the verb the commit message starts with (no 'scale out: scale out:')", () => {
  expect(reasonOnly("scale out: proxy_cpu 78 > 50 for 60s")).toBe("proxy_cpu 78 > 50 for 60s");
  expect(reasonOnly("scale in: 5 hosts > max 4")).toBe("5 hosts > max 4");
  expect(reasonOnly("by hand (2 → 3)")).toBe("by hand (2 → 3)");
});
