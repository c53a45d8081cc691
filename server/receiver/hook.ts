import { deployingBranches, roleOfRef } from "../../pipeline/branches.ts";
import { type DeploySettings, deploy } from "../../pipeline/deploy.ts";

const ZERO = /^0+$/;

/**
 * The pre-receive hook: for master and staging, the test gate and the rolling deploy run
 * before the branch moves, so a failure rejects the push and the branch keeps naming what is
 * deployed. Everything said goes to the pusher as `remote:` lines. Answers the exit code.
 */
export async function preReceive(input: string, settings: DeploySettings): Promise<number> {
  const say = (line: string) => process.stdout.write(`${line}\n`);
  for (const line of input.trim().split("\n").filter(Boolean)) {
    const [oldSha = "", newSha = "", ref = ""] = line.split(" ");
    const { branches } = settings.config.pipeline;
    const role = roleOfRef(branches, ref);
    if (!role) {
      say(`${ref}: stored, not deployed (only ${deployingBranches(branches)} deploy)`);
      continue;
    }
    const branch = ref.slice("refs/heads/".length);
    if (ZERO.test(newSha)) {
      say(`✗ refusing to delete ${branch}: it names what runs on ${role}`);
      return 1;
    }
    if (!ZERO.test(oldSha) && !settings.config.pipeline.allow_force_push) {
      const ancestor = Bun.spawnSync(["git", "merge-base", "--is-ancestor", oldSha, newSha]);
      if (ancestor.exitCode !== 0) {
        say(
          `✗ refusing a force-push that rewrites ${branch}; push a new commit on top (or set pipeline.allow_force_push)`,
        );
        return 1;
      }
    }
    const code = await deploy(branch, role, oldSha, newSha, settings, say);
    if (code !== 0) return code;
  }
  return 0;
}
