import { readdirSync, readFileSync, readlinkSync } from "node:fs";
import { runAsync } from "../shared/proc.ts";

/**
 * Whether a booted droplet sees its size in /proc (LXCFS's files bound over its own), checked
 * from inside it, and put right when not: once in a few hundred boots on a busy machine a
 * droplet was seen with the machine's memory and CPUs, and Redis's `maxmemory auto` and the
 * monitor's alerts went by the machine's figures.
 */

/** The droplet's PID 1, as this machine numbers it: the first process under the host's outermost one in a PID namespace of its own. */
export function dropletInit(hostPid: number): number | undefined {
  let own: string;
  try {
    own = readlinkSync("/proc/self/ns/pid");
  } catch {
    return undefined;
  }
  const queue = [hostPid];
  while (queue.length > 0) {
    const pid = queue.shift() as number;
    try {
      if (readlinkSync(`/proc/${pid}/ns/pid`) !== own) return pid;
      for (const task of readdirSync(`/proc/${pid}/task`))
        queue.push(...childrenOf(readFileSync(`/proc/${pid}/task/${task}/children`, "utf8")));
    } catch {
      // gone meanwhile
    }
  }
  return undefined;
}

function childrenOf(text: string): number[] {
  return text.split(/\s+/).filter(Boolean).map(Number);
}

/** MemTotal in kB as /proc/meminfo has it, or undefined when the text has none. */
export function memTotalKb(meminfo: string): number | undefined {
  const match = /^MemTotal:\s+(\d+) kB$/m.exec(meminfo);
  return match ? Number(match[1]) : undefined;
}

/** Runs `argv` inside the droplet whose PID 1 is `init`: its mount and PID namespaces. */
const inDroplet = (init: number, argv: string[], stdin?: string) =>
  runAsync(["nsenter", "-t", String(init), "-m", "-p", "--", ...argv], { stdin });

/** What a droplet's processes see as their memory. */
async function seenMemTotalKb(init: number): Promise<number | undefined> {
  const read = await inDroplet(init, ["cat", "/proc/meminfo"]);
  return read.code === 0 ? memTotalKb(read.stdout) : undefined;
}

/**
 * Checks that the droplet whose host is `hostPid` sees `memoryMb`; if not, binds LXCFS's files
 * again with the droplet's own boot script and checks once more. Answers a line saying what was
 * found and done, or undefined when all was well.
 */
export async function ensureProcView(
  hostPid: number,
  memoryMb: number,
  bindScript: string,
): Promise<string | undefined> {
  const init = dropletInit(hostPid);
  if (init === undefined) return "its PID 1 was not found; its /proc was not checked";
  const expected = memoryMb * 1024;
  const seen = await seenMemTotalKb(init);
  if (seen === expected) return undefined;
  const mounts = await inDroplet(init, ["findmnt", "-n", "-o", "TARGET,SOURCE", "/proc/meminfo"]);
  // what the boot's unit said (a systemd droplet; a shell droplet has no journal)
  const unit = await inDroplet(init, [
    ..."journalctl -b -n 4 --no-pager -o cat -u".split(" "),
    "emulated-droplet-proc.service",
  ]);
  const bound = await inDroplet(init, ["sh", "-e"], bindScript);
  const after = await seenMemTotalKb(init);
  return (
    `saw MemTotal ${seen ?? "unreadable"} kB, not its ${expected} kB ` +
    `(/proc/meminfo mounted: ${mounts.stdout.trim() || "no"}; its unit said: ${oneLine(unit.stdout + unit.stderr) || "nothing"}); ` +
    `LXCFS's files bound again (${bound.code === 0 ? "done" : `failed: ${bound.stderr.trim()}`}), ` +
    `now ${after === expected ? "right" : `still ${after ?? "unreadable"} kB`}`
  );
}

const oneLine = (text: string) => text.trim().split("\n").join(" / ").slice(0, 400);
