import { readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { EMULATOR_NETWORK_VARIABLE } from "../server/emulator/network.ts";
import { runVerb, type VerbSpec } from "./lib/cli.ts";
import { LANE_NETWORK, type Lane, splitLanes, summaryOf } from "./lib/test-lanes.ts";

const SPEC = {
  verb: "test",
  usage: ["test [--serial] [--droplets-beside] [-- BUN_TEST_OPTIONS]"],
  about: `Runs every test file in lanes: the files that boot droplets on the local emulator one
after another (they share its networks), then those marked \`// lane: droplets-1\` the same way
on a second emulator network, and every other file beside them. Files marked
\`// lane: alone\` (they measure this machine's own CPU) run first, by themselves. The droplet
lanes' output streams; the other lane's is printed whole when all are done, then a line per
lane. Fails when any lane fails. Options after -- go to every bun test run.`,
  options: {
    serial: {
      type: "boolean",
      description: "run the other lane after the droplet lanes instead of beside them",
    },
    "droplets-beside": {
      type: "boolean",
      description:
        "run the two droplet lanes beside each other: a fifth faster on 2 cores, but the load makes timing tests fail there (see docs/benchmarks.md); for a machine with more cores",
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
    if (files.length === 0) return { lane, files: 0, code: 0, seconds: 0, output: "" };
    const started = performance.now();
    const child = Bun.spawn(
      [process.execPath, "test", `--timeout=${TIMEOUT_MS}`, ...rest, ...files],
      {
        cwd: ROOT,
        env:
          LANE_NETWORK[lane] === undefined
            ? ENVIRONMENT
            : { ...ENVIRONMENT, [EMULATOR_NETWORK_VARIABLE]: String(LANE_NETWORK[lane]) },
        stdin: "ignore",
        stdout: stream ? "inherit" : "pipe",
        stderr: stream ? "inherit" : "pipe",
      },
    );
    children.add(child);
    const [out, err, code] = await Promise.all([
      stream ? "" : new Response(child.stdout as ReadableStream).text(),
      stream ? "" : new Response(child.stderr as ReadableStream).text(),
      child.exited,
    ]);
    children.delete(child);
    const seconds = (performance.now() - started) / 1000;
    return { lane, files: files.length, code, seconds, output: out + err };
  };

  const beside = values["droplets-beside"] === true;
  console.log(
    `dropship test: ${lanes.alone.length} files alone first; ` +
      `${lanes.droplets.length} and ${lanes["droplets-1"].length} files that boot droplets, one after another on each of two emulator networks, ${beside ? "the networks beside each other" : "one network after the other"}; ` +
      `${lanes.loopback.length} others ${values.serial ? "after them" : "beside them"}`,
  );
  const alone = await runLane("alone", true);
  const dropletLanes = async (): Promise<LaneRun[]> =>
    beside
      ? Promise.all([runLane("droplets", true), runLane("droplets-1", false)])
      : [await runLane("droplets", true), await runLane("droplets-1", true)];
  let runs: LaneRun[];
  if (values.serial) {
    const droplets = await dropletLanes();
    runs = [alone, ...droplets, await runLane("loopback", false)];
  } else {
    const [droplets, loopback] = await Promise.all([dropletLanes(), runLane("loopback", false)]);
    runs = [alone, ...droplets, loopback];
  }
  for (const run of runs.filter((run) => run.output))
    console.log(`\n── the ${run.lane} lane (${run.files} files) ──\n${run.output}`);
  for (const run of runs) {
    // the streamed lane's summary went by above; the buffered one is summed up here
    const summary = run.output ? ` — ${summaryOf(run.output)}` : "";
    console.log(
      `dropship test: ${run.lane} lane ${run.code === 0 ? "passed" : `FAILED (exit ${run.code})`}` +
        ` in ${run.seconds.toFixed(0)} s, ${run.files} files${summary}`,
    );
  }
  if (runs.some((run) => run.code !== 0)) process.exitCode = 1;
});
