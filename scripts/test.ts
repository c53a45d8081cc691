import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { EMULATOR_NETWORK_VARIABLE } from "../server/emulator/network.ts";
import { BUILD_CACHE_VARIABLE } from "../server/shared/platform.ts";
import { runVerb, type VerbSpec } from "./lib/cli.ts";
import { bundleServers, TEST_BUNDLES_VARIABLE } from "./lib/test-bundles.ts";
import {
  failuresOf,
  LANE_NETWORK,
  LANE_NICENESS,
  type Lane,
  leftInSession,
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
Every other file runs beside them all, yielding the CPU to them (nice 5): the suite ends
when the droplet lanes do. Each lane runs in a session of its own: what its tests leave
running is stopped when it ends, and named. The alone, quiet and network 0 lanes' output streams;
the others' is printed whole when all are done, then each failed test with its error, then a
line per lane. Fails when any lane fails. The lanes share one build cache
(DROPSHIP_BUILD_CACHE, removed at the end), unless the shell names its own, and one bundle
of each server the tests start (DROPSHIP_TEST_BUNDLES, made first under dist/ and removed at
the end). Options after -- go to every bun test run.`,
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
// One build cache for the run, unless the shell names one: the demos, setup and the scaling
// files build the same commit's servers a dozen times over, and each copy is ~1.3 s less
// compiling (the gate's builds of pushed trees never see it: its sandbox clears the
// environment).
const OWN_BUILD_CACHE = ENVIRONMENT[BUILD_CACHE_VARIABLE]
  ? undefined
  : mkdtempSync(join(tmpdir(), "dropship-test-builds-"));
if (OWN_BUILD_CACHE) ENVIRONMENT[BUILD_CACHE_VARIABLE] = OWN_BUILD_CACHE;
/** Per test: the emulator suites' longest steps (a converge, a health window) fit in it. */
const TIMEOUT_MS = 30_000;
/** How long a lane's output may stay open once its bun test has exited and its session is cleared. */
const OUTPUT_GRACE_MS = 5_000;

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
  // made from this checkout now, so the bundles are the code under test
  const bundles = await bundleServers(ROOT);
  ENVIRONMENT[TEST_BUNDLES_VARIABLE] = bundles;
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
    // in a session of its own (setsid execs, so the session is the child's pid): what its
    // tests leave running is found by it, and stopped, once it is done
    const child = Bun.spawn(
      [
        "setsid",
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
    const readers: { cancel(): Promise<void> }[] = [];
    const collect = async (from: ReadableStream<Uint8Array>, to: NodeJS.WriteStream) => {
      const reader = from.getReader();
      readers.push(reader);
      const decoder = new TextDecoder();
      for (;;) {
        const { value, done } = await reader.read().catch(() => ({ value: undefined, done: true }));
        if (done || !value) return;
        log.push(decoder.decode(value, { stream: true }));
        if (stream) to.write(value);
      }
    };
    const collected = Promise.all([
      collect(child.stdout, process.stdout),
      collect(child.stderr, process.stderr),
    ]);
    const code = await child.exited;
    children.delete(child);
    // a process a test left running holds the lane's output open, and the run would wait for
    // it for ever (seen: a proxy and a Redis whose file failed before its hooks were set)
    const notes: string[] = [];
    const left = stopLeftovers(child.pid);
    if (left.length > 0)
      notes.push(
        `dropship test: the ${lane} lane left ${left.length} processes running, stopped now: ${left.map((p) => `${p.pid} ${p.name}`).join(", ")}`,
      );
    let grace: Timer | undefined;
    const ended = await Promise.race([
      collected.then(() => true),
      new Promise<false>((resolve) => {
        grace = setTimeout(() => resolve(false), OUTPUT_GRACE_MS);
      }),
    ]);
    clearTimeout(grace);
    if (!ended) {
      for (const reader of readers) void reader.cancel().catch(() => {});
      notes.push(
        `dropship test: the ${lane} lane's output was still open ${OUTPUT_GRACE_MS / 1000} s after it ended (a process outside its session holds it); stopped reading`,
      );
    }
    for (const note of notes) {
      log.push(`\n${note}\n`);
      if (stream) console.log(note);
    }
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
  if (OWN_BUILD_CACHE) rmSync(OWN_BUILD_CACHE, { recursive: true, force: true });
  rmSync(bundles, { recursive: true, force: true });
});

/** Kills what is still in a lane's session once its bun test has exited, and says what it was. */
function stopLeftovers(sid: number): { pid: number; name: string }[] {
  const stats = readdirSync("/proc")
    .filter((name) => /^\d+$/.test(name))
    .flatMap((name) => {
      try {
        return [{ pid: Number(name), stat: readFileSync(`/proc/${name}/stat`, "utf8") }];
      } catch {
        return []; // gone meanwhile
      }
    });
  const left = leftInSession(stats, sid);
  for (const { pid } of left) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // gone meanwhile
    }
  }
  return left;
}
