import { expect, test } from "bun:test";
import { shellQuote } from "../../../../server/shared/text/shell.ts";

test("a quoted argument reaches the shell unchanged, quotes and $ included", () => {
  const text = `it's $HOME; \`rm -rf /\` "x"`;
  const echoed = Bun.spawnSync(["sh", "-c", `printf '%s' ${shellQuote(text)}`]);
  expect(echoed.stdout.toString()).toBe(text);
});
