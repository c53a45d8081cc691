/**
 * Which lane a test file runs in. Files that boot droplets share an emulator network (its
 * bridges, addresses and namespaces), so those on one network run one after another. There are
 * two: the files marked `// lane: droplets-1` boot theirs on emulator network 1, the other
 * droplet files on network 0, and scripts/test.ts runs the two lanes beside each other. A
 * droplet file whose timing claims need the machine's droplet work to itself (the demo's
 * scale-out under load, its Sentinel failover) says `// lane: quiet`: it runs on network 0
 * before both, with no other droplet lane beside it. Every other file runs in a lane beside
 * them. A file that measures this machine itself (its real CPU) says `// lane: alone` and runs
 * first, with nothing beside it.
 */
export type Lane = "alone" | "quiet" | "droplets" | "droplets-1" | "loopback";

export const LANES: readonly Lane[] = ["alone", "quiet", "droplets", "droplets-1", "loopback"];

/** The emulator network each droplet lane's files boot their droplets on. */
export const LANE_NETWORK: Partial<Record<Lane, number>> = {
  quiet: 0,
  droplets: 0,
  "droplets-1": 1,
};

/**
 * How much a lane yields the CPU to the others (nice(1)'s scale). Nothing waits for the files
 * on loopback: the suite ends when the droplet lanes do, and a quarter of the machine was idle
 * over a run. Yielding, they take less from the demo's lane and the droplet lanes behind it
 * (at nice 10 the suite's critical path was ~70 s shorter), and use what those leave idle. Not
 * more than 5: at 10 a proxy started by a loopback file did not say it was listening within
 * 10 s while the droplet lanes converged.
 */
export const LANE_NICENESS: Partial<Record<Lane, number>> = { loopback: 5 };

const ALONE = /^\/\/ lane: alone\b/m;
const QUIET = /^\/\/ lane: quiet\b/m;
const SECOND_NETWORK = /^\/\/ lane: droplets-1\b/m;

/**
 * The ways a test boots droplets: the emulator helper, the scaling fixture built on it, the
 * demo; and the emulator's DNS server, whose pid file is its network's one (a second one
 * stops the first).
 */
const BOOTS_DROPLETS = [
  /\bstartEmulator\(/,
  /\bscalingFixture\(/,
  /scripts\/demo\.ts/,
  /\bnew DnsServer\(/,
];

export function laneOf(source: string): Lane {
  if (ALONE.test(source)) return "alone";
  if (!BOOTS_DROPLETS.some((pattern) => pattern.test(source))) return "loopback";
  if (QUIET.test(source)) return "quiet";
  return SECOND_NETWORK.test(source) ? "droplets-1" : "droplets";
}

/** Test files by lane, each sorted, as paths bun test reads as files (`./tests/…`). */
export function splitLanes(files: { path: string; source: string }[]): Record<Lane, string[]> {
  const lanes: Record<Lane, string[]> = {
    alone: [],
    quiet: [],
    droplets: [],
    "droplets-1": [],
    loopback: [],
  };
  for (const { path, source } of files) lanes[laneOf(source)].push(`./${path}`);
  for (const lane of LANES) lanes[lane].sort();
  return lanes;
}

/**
 * The processes still in session `sid` (a lane runs in a session of its own, led by its bun
 * test process), from `/proc/<pid>/stat` texts, with their names: what a lane left running.
 */
export function leftInSession(
  stats: { pid: number; stat: string }[],
  sid: number,
): { pid: number; name: string }[] {
  return stats.flatMap(({ pid, stat }) => {
    // the name is in parentheses and may hold spaces and parentheses itself
    const close = stat.lastIndexOf(")");
    const fields = stat.slice(close + 2).split(" ");
    // a zombie is dead already: it holds nothing open, and only its parent can take it away
    if (close < 0 || Number(fields[3]) !== sid || pid === sid || /^[ZX]$/.test(fields[0] ?? ""))
      return [];
    return [{ pid, name: stat.slice(stat.indexOf("(") + 1, close) }];
  });
}

/** The last summary lines of a bun test run ("N pass", "M fail", "Ran …"), for the report. */
export function summaryOf(output: string): string {
  return output
    .split("\n")
    .filter((line) => /^\s*\d+ (pass|fail|skip|todo)$|^Ran \d+ tests? /.test(line))
    .map((line) => line.trim())
    .join(", ");
}

/** How many lines before a failed test, at most, its excerpt keeps (bun prints the error there). */
const EXCERPT_LINES = 40;
const RESULT_LINE = /^\((pass|fail|skip|todo)\) /;
const FILE_LINE = /^\S.*\.test\.ts:$/;

/**
 * What a failed lane's reader needs at the end of a long log: each failed test with the lines
 * bun printed for it (from the previous test's result or file header on, at most
 * EXCERPT_LINES), or, when no test is marked failed (a crash, a failed preload), the log's last
 * EXCERPT_LINES lines.
 */
export function failuresOf(output: string): string {
  const lines = output.split("\n");
  const excerpts: string[] = [];
  for (const [index, line] of lines.entries()) {
    if (!line.startsWith("(fail) ")) continue;
    let start = index;
    while (
      start > 0 &&
      index - start < EXCERPT_LINES &&
      !RESULT_LINE.test(lines[start - 1] as string) &&
      !FILE_LINE.test(lines[start - 1] as string)
    )
      start--;
    const file = lines.slice(0, start).findLast((candidate) => FILE_LINE.test(candidate));
    excerpts.push([...(file ? [file] : []), ...lines.slice(start, index + 1)].join("\n"));
  }
  if (excerpts.length > 0) return excerpts.join("\n\n");
  return lines.slice(-EXCERPT_LINES).join("\n").trim();
}
