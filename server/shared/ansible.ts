import { existsSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { APP_SETTINGS_VARIABLE } from "./app-settings.ts";
import { runAsync } from "./proc.ts";
import { redact } from "./secrets.ts";

const ANSIBLE_DIR = ansibleDir(import.meta.dir);

/**
 * The checkout's ansible/: the nearest above this code, which runs from server/shared or from
 * a bundle of it elsewhere in the checkout (the test run's, under dist/).
 */
export function ansibleDir(from: string): string {
  for (let dir = from; dir !== dirname(dir); dir = dirname(dir))
    if (existsSync(join(dir, "ansible", "product.yml"))) return join(dir, "ansible");
  return resolve(from, "../../ansible");
}

export interface HostRecap {
  ok: number;
  changed: number;
  unreachable: number;
  failed: number;
}

export class AnsibleError extends Error {
  override name = "AnsibleError";
}

/**
 * Runs one playbook of ansible/ against one or more inventory files; answers the PLAY RECAP per host,
 * or throws an AnsibleError naming the playbook, the hosts and the failing task's message.
 */
export async function runPlaybook(
  playbook: "proxy.yml" | "product.yml" | "staging.yml" | "redis.yml",
  inventory: string | string[],
  env: Record<string, string> = {},
): Promise<Record<string, HostRecap>> {
  const {
    code,
    stdout: out,
    stderr: err,
  } = await runAsync(
    [
      "ansible-playbook",
      ...[inventory].flat().flatMap((file) => ["-i", file]),
      resolve(ANSIBLE_DIR, playbook),
    ],
    {
      cwd: ANSIBLE_DIR,
      env: {
        ...process.env,
        ANSIBLE_CONFIG: resolve(ANSIBLE_DIR, "ansible.cfg"),
        ANSIBLE_NOCOLOR: "1",
        ...env,
      },
    },
  );
  const recap = parseRecap(out);
  const failedHosts = Object.entries(recap).filter(([, r]) => r.failed > 0 || r.unreachable > 0);
  if (code !== 0 || failedHosts.length > 0) {
    const fatal = out
      .split("\n")
      .filter((line) => /^(fatal|failed):/.test(line) || line.includes("UNREACHABLE"))
      .slice(0, 5)
      .join("\n");
    const hosts = failedHosts.map(([h]) => h).join(", ") || "(no recap)";
    throw new AnsibleError(
      withoutAppSettings(
        redact(
          `${playbook} failed on ${hosts} (exit ${code}):\n${fatal || err.trim().split("\n").slice(-5).join("\n")}`,
          { ...process.env, ...env },
        ),
        env[APP_SETTINGS_VARIABLE],
      ),
    );
  }
  return recap;
}

/** `host : ok=5 changed=1 unreachable=0 failed=0 …` lines of the PLAY RECAP. */
export function parseRecap(output: string): Record<string, HostRecap> {
  const recap: Record<string, HostRecap> = {};
  const start = output.lastIndexOf("PLAY RECAP");
  if (start < 0) return recap;
  for (const line of output.slice(start).split("\n").slice(1)) {
    const match = /^(\S+)\s+:\s+ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)/.exec(
      line,
    );
    if (match) {
      recap[match[1] as string] = {
        ok: Number(match[2]),
        changed: Number(match[3]),
        unreachable: Number(match[4]),
        failed: Number(match[5]),
      };
    }
  }
  return recap;
}

/**
 * What a converge did, in a line: how many hosts, and the changes on each host that changed.
 * "Nothing changed" on a fleet converged before is what idempotent playbooks promise.
 */
export function convergeSummary(recaps: Record<string, HostRecap>[]): string {
  const changes = new Map<string, number>();
  for (const recap of recaps)
    for (const [host, r] of Object.entries(recap))
      changes.set(host, (changes.get(host) ?? 0) + r.changed);
  const hosts = `${changes.size} ${changes.size === 1 ? "host" : "hosts"}`;
  const changed = [...changes].filter(([, n]) => n > 0);
  const total = changed.reduce((sum, [, n]) => sum + n, 0);
  if (total === 0) return `${hosts} as configured already: nothing changed`;
  const each = changed.map(([host, n]) => `${host} ${n}`).join(", ");
  return `${hosts} configured: ${total} ${total === 1 ? "change" : "changes"} (${each})`;
}

/** A text with every value of the app's settings (JSON, as Ansible is given them) masked. */
function withoutAppSettings(text: string, json: string | undefined): string {
  if (!json) return text;
  let out = text;
  for (const [name, value] of Object.entries(JSON.parse(json) as Record<string, string>))
    if (value.length >= 4) out = out.split(value).join(`<${name}>`);
  return out;
}
