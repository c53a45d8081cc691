import type { Config, RoleName } from "../server/shared/config/schema.ts";

/** The role a pushed ref deploys to (pipeline.branches), or undefined when it only is stored. */
export function roleOfRef(
  branches: Config["pipeline"]["branches"],
  ref: string,
): RoleName | undefined {
  if (!ref.startsWith("refs/heads/")) return undefined;
  const branch = ref.slice("refs/heads/".length);
  if (branches.production.includes(branch)) return "production";
  if (branches.staging.includes(branch)) return "staging";
  return undefined;
}

/** "master, main and staging", for the line that says a branch was only stored. */
export function deployingBranches(branches: Config["pipeline"]["branches"]): string {
  const all = [...branches.production, ...branches.staging];
  return all.length > 1 ? `${all.slice(0, -1).join(", ")} and ${all.at(-1)}` : (all[0] ?? "none");
}

/** The test command of a role: pipeline.test.master gates production, .staging the canary. */
export function testCommandOf(config: Config, role: RoleName): string {
  return role === "staging" ? config.pipeline.test.staging : config.pipeline.test.master;
}
