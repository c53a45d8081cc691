import { writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { checksSource } from "../server/shared/records/generate.ts";
import { runVerb, type VerbSpec } from "./lib/cli.ts";

const SPEC = {
  verb: "gen:checks",
  usage: ["gen:checks"],
  about: `Writes server/shared/records/checks.ts: the shared records' schemas compiled to plain
check functions, so the servers check stored records without loading a schema library.`,
} satisfies VerbSpec;

await runVerb(SPEC, async () => {
  const file = join(resolve(import.meta.dir, ".."), "server", "shared", "records", "checks.ts");
  writeFileSync(file, checksSource());
  console.log(`wrote ${file}`);
});
