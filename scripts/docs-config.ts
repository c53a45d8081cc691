import { writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { configReference } from "../server/shared/config/reference.ts";
import { runVerb, type VerbSpec } from "./lib/cli.ts";

const SPEC = {
  verb: "docs:config",
  usage: ["docs:config"],
  about: "Writes docs/config.md, the configuration reference, from the config schema.",
} satisfies VerbSpec;

await runVerb(SPEC, async () => {
  const file = join(resolve(import.meta.dir, ".."), "docs", "config.md");
  writeFileSync(file, configReference());
  console.log(`wrote ${file}`);
});
