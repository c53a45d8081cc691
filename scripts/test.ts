import { readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { EMULATOR_NETWORK_VARIABLE } from "../server/emulator/network.ts";
import { runVerb, type VerbSpec } from "./lib/cli.ts";
import { LANE_NETWORK, type Lane, splitLanes, summaryOf } from "./lib/test-lanes.ts";

const SPEC = {
  verb: "test",
  usage: ["test [--serial] [-- BUN_TEST_OPTIONS]"],
  about: `Runs every test file in three lanes at once: the files that boot droplets on the local
emulator one after another (they share its networks), those marked \`// lane: droplets-1\` the
same way on a second emulator network, and every other file beside them. Files marked
\`// lane: alone\` (they measure this machine's own CPU) run first, by themselves. The first
droplet lane's output streams; the others' is printed whole when all are done, then a line per
lane. Fails when any lane fails. Options after -- go to every bun test run.`,
  options: {
    serial: {
      type: "boolean",
      description: "run the lanes one after another instead of beside each other",
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

  console.log(
    `dropship test: ${lanes.alone.length} files alone first; ` +
      `${lanes.droplets.length} and ${lanes["droplets-1"].length} files that boot droplets, one after another on each of two emulator networks; ` +
      `${lanes.loopback.length} others ${values.serial ? "after them" : "beside them"}`,
  );
  const alone = await runLane("alone", true);
  const after: Lane[] = ["droplets", "droplets-1", "loopback"];
  let runs: LaneRun[] = [alone];
  if (values.serial) {
    for (const lane of after) runs.push(await runLane(lane, lane === "droplets"));
  } else {
    runs = [alone, ...(await Promise.all(after.map((lane) => runLane(lane, lane === "droplets"))))];
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
