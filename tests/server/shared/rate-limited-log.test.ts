import { expect, test } from "bun:test";
import { RateLimitedLog } from "../../../server/shared/rate-limited-log.ts";

test("at most N lines a second; what was held back is counted on the next line", () => {
  const lines: string[] = [];
  let now = 10_000;
  const log = new RateLimitedLog(
    3,
    (line) => lines.push(line),
    () => now,
  );
  for (let i = 0; i < 10; i++) log.line(`refused ${i}`);
  expect(lines).toEqual([
    "dropship-proxy: refused 0",
    "dropship-proxy: refused 1",
    "dropship-proxy: refused 2",
  ]);
  now += 1_000;
  log.line("refused 10");
  expect(lines.slice(3)).toEqual([
    "dropship-proxy: (7 similar lines not logged)",
    "dropship-proxy: refused 10",
  ]);
});
