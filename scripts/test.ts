import { readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { EMULATOR_NETWORK_VARIABLE } from "../server/emulator/network.ts";
import { runVerb, type VerbSpec } from "./lib/cli.ts";
import {
  failuresOf,
  LANE_NETWORK,
  LANE_NICENESS,
  type Lane,
  splitLanes,
  summaryOf,
} from "./lib/test-lanes.ts";

const SPEC = {
  verb: "test",
  usage: ["test [--serial] [--droplets-in-turn] [-- BUN_TEST_OPTIONS]"],
  about: `Runs every test file in lanes. Files marked \`// lane: alone\` (they measure this
machine's own CPU) run first, by themselves. Then the files that boot droplets on the local
emulator, one after another within a lane (they share its network): those marked
\`// lane: quiet\` (timing claims that need the droplet work to themselves) first, then the
other files on emulator network 0 beside those marked \`// lane: droplets-1\` on network 1.
Every other file runs beside them all, yielding the CPU to them (nice 10): the suite ends
when the droplet lanes do. The alone, quiet and network 0 lanes' output streams;
the others' is printed whole when all are done, then each failed test with its error, then a
line per lane. Fails when any lane fails. Options
after -- go to every bun test run.`,
  options: {
    serial: {
      type: "boolean",
      description: "run every lane after the one before",
    },
    "droplets-in-turn": {
      type: "boolean",
      description:
        "run the two droplet lanes one after the other, not beside each other (for a machine with one core)",
    },
  },
} satisfies VerbSpec;

const ROOT = resolve(import.meta.dir, "..");
// the tests get this shell's environment, not the .env runVerb loads for the commands
const ENVIRONMENT = { ...process.env };
/** Per test: the emulator suites' longest steps (a converge, a health window) fit in it. */
const TIMEOUT_MS = 30_000;

interface LaneRun {
  lane: Lane;
  files: number;
  code: number;
  seconds: number;
  /** Whether the output went by as it came (so it is not printed again at the end). */
  streamed: boolean;
  output: string;
}

await runVerb(SPEC, async ({ values, rest }) => {
  const paths = [...new Bun.Glob("tests/**/*.test.ts").scanSync({ cwd: ROOT })];
  const lanes = splitLanes(
    paths.map((path) => ({ path, source: readFileSync(join(ROOT, path), "utf8") })),
  );
  const children = new Set<Bun.Subprocess>();
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    process.once(signal, () => {
      for (const child of children) child.kill(signal);
    });
  }
  const runLane = async (lane: Lane, stream: boolean): Promise<LaneRun> => {
    const files = lanes[lane];
    if (files.length === 0)
      return { lane, files: 0, code: 0, seconds: 0, streamed: stream, output: "" };
    const started = performance.now();
    const niceness = LANE_NICENESS[lane];
    const child = Bun.spawn(
      [
        ...(niceness === undefined ? [] : ["nice", "-n", String(niceness)]),
        process.execPath,
        "test",
        `--timeout=${TIMEOUT_MS}`,
        ...rest,
        ...files,
      ],
      {
        cwd: ROOT,
        env:
          LANE_NETWORK[lane] === undefined
            ? ENVIRONMENT
            : { ...ENVIRONMENT, [EMULATOR_NETWORK_VARIABLE]: String(LANE_NETWORK[lane]) },
        stdin: "ignore",
        stdout: "pipe",
        stderr: "pipe",
      },
    );
    children.add(child);
    // both streams into one log, in the order they come; a streamed lane's also goes on as it comes
    const log: string[] = [];
    const collect = async (from: ReadableStream<Uint8Array>, to: NodeJS.WriteStream) => {
      const decoder = new TextDecoder();
      for await (const chunk of from) {
        log.push(decoder.decode(chunk, { stream: true }));
        if (stream) to.write(chunk);
      }
    };
    const [, , code] = await Promise.all([
      collect(child.stdout, process.stdout),
      collect(child.stderr, process.stderr),
      child.exited,
    ]);
    children.delete(child);
    const seconds = (performance.now() - started) / 1000;
    return { lane, files: files.length, code, seconds, streamed: stream, output: log.join("") };
  };

  const beside = values["droplets-in-turn"] !== true && values.serial !== true;
  console.log(
    `dropship test: ${lanes.alone.length} files alone first; ` +
      `${lanes.quiet.length} quiet files that boot droplets, then ${lanes.droplets.length} and ${lanes["droplets-1"].length} on two emulator networks, ${beside ? "the networks beside each other" : "one network after the other"}; ` +
      `${lanes.loopback.length} others ${values.serial ? "after them" : "beside them"}`,
  );
  const alone = await runLane("alone", true);
  const dropletLanes = async (): Promise<LaneRun[]> => {
    const quiet = await runLane("quiet", true);
    const rest = beside
      ? await Promise.all([runLane("droplets", true), runLane("droplets-1", false)])
      : [await runLane("droplets", true), await runLane("droplets-1", true)];
    return [quiet, ...rest];
  };
  let runs: LaneRun[];
  if (values.serial) {
    const droplets = await dropletLanes();
    runs = [alone, ...droplets, await runLane("loopback", false)];
  } else {
    const [droplets, loopback] = await Promise.all([dropletLanes(), runLane("loopback", false)]);
    runs = [alone, ...droplets, loopback];
  }
  for (const run of runs.filter((run) => !run.streamed && run.output))
    console.log(`\n── the ${run.lane} lane (${run.files} files) ──\n${run.output}`);
  // a long log's end is what a reader sees first: what failed, wherever it went by, goes there
  for (const run of runs.filter((run) => run.code !== 0))
    console.log(`\n── what failed in the ${run.lane} lane ──\n${failuresOf(run.output)}`);
  for (const run of runs) {
    const summary = run.output ? ` — ${summaryOf(run.output)}` : "";
    console.log(
      `dropship test: ${run.lane} lane ${run.code === 0 ? "passed" : `FAILED (exit ${run.code})`}` +
        ` in ${run.seconds.toFixed(0)} s, ${run.files} files${summary}`,
    );
  }
  if (runs.some((run) => run.code !== 0)) process.exitCode = 1;
});
