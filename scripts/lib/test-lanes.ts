/**
 * Which lane a test file runs in. Files that boot droplets share this machine's emulator
 * networks (its bridges, addresses and `dsemu-` namespaces), so they run one after another;
 * every other file runs in a second lane beside them. A file that measures this machine
 * itself (its real CPU) says `// lane: alone` and runs first, with nothing beside it.
 */
export type Lane = "alone" | "droplets" | "loopback";

export const LANES: readonly Lane[] = ["alone", "droplets", "loopback"];

const ALONE = /^\/\/ lane: alone\b/m;

/**
 * The ways a test boots droplets: the emulator helper, the scaling fixture built on it, the
 * demo; and the emulator's DNS server, whose pid file is the machine's one (a second one stops
 * the first).
 */
const BOOTS_DROPLETS = [
  /\bstartEmulator\(/,
  /\bscalingFixture\(/,
  /scripts\/demo\.ts/,
  /\bnew DnsServer\(/,
];

export function laneOf(source: string): Lane {
  if (ALONE.test(source)) return "alone";
  return BOOTS_DROPLETS.some((pattern) => pattern.test(source)) ? "droplets" : "loopback";
}

/** Test files by lane, each sorted, as paths bun test reads as files (`./tests/…`). */
export function splitLanes(files: { path: string; source: string }[]): Record<Lane, string[]> {
  const lanes: Record<Lane, string[]> = { alone: [], droplets: [], loopback: [] };
  for (const { path, source } of files) lanes[laneOf(source)].push(`./${path}`);
  for (const lane of LANES) lanes[lane].sort();
  return lanes;
}

/** The last summary lines of a bun test run ("N pass", "M fail", "Ran …"), for the report. */
export function summaryOf(output: string): string {
  return output
    .split("\n")
    .filter((line) => /^\s*\d+ (pass|fail|skip|todo)$|^Ran \d+ tests? /.test(line))
    .map((line) => line.trim())
    .join(", ");
}
