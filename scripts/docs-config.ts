import { writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { configReference } from "../server/shared/config/reference.ts";
import { runCli, UsageError } from "./lib/cli.ts";

const USAGE = `
Usage: bun run docs:config

Writes docs/config.md, the configuration reference, from the config schema.
`;

await runCli("docs:config", USAGE, async (args) => {
  if (args.length > 0) throw new UsageError(`takes no arguments, got: ${args.join(" ")}`);
  const file = join(resolve(import.meta.dir, ".."), "docs", "config.md");
  writeFileSync(file, configReference());
  console.log(`wrote ${file}`);
});
