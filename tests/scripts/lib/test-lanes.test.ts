import { expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import {
  failuresOf,
  LANE_NETWORK,
  LANES,
  laneOf,
  leftInSession,
  splitLanes,
  summaryOf,
} from "../../../scripts/lib/test-lanes.ts";

const ROOT = resolve(import.meta.dir, "../../..");

// made up at run time: this file's own text must not read as booting droplets
const call = (name: string) => `const it = await ${name}();`;
const DEMO = ["scripts", "demo.ts"].join("/");

test("a file that starts the emulator, its DNS, the scaling fixture or the demo boots droplets", () => {
  expect(laneOf(call("startEmulator"))).toBe("droplets");
  expect(laneOf(call("scalingFixture"))).toBe("droplets");
  expect(laneOf(call("new DnsServer"))).toBe("droplets");
  expect(laneOf(`run("${DEMO}", ["--detach"], env)`)).toBe("droplets");
  expect(laneOf(`import { startEmulator } from "../helpers/emulator.ts";`)).toBe("loopback");
  expect(laneOf(call("startProxy"))).toBe("loopback");
});

test("a droplet file marked for the second network gets a lane of its own, on network 1", () => {
  const mark = ["// lane", "droplets-1 — beside the others"].join(": ");
  expect(laneOf(`${mark}\n${call("startEmulator")}`)).toBe("droplets-1");
  expect(laneOf(`${mark}\n${call("scalingFixture")}`)).toBe("droplets-1");
  // the mark moves droplet files only; a mark not at a line's start is no mark
  expect(laneOf(`${mark}\n${call("startProxy")}`)).toBe("loopback");
  expect(laneOf(`const x = 1; ${mark}\n${call("startEmulator")}`)).toBe("droplets");
  expect(LANE_NETWORK).toEqual({ quiet: 0, droplets: 0, "droplets-1": 1 });
});

test("a droplet file marked quiet gets the quiet lane, on network 0; a loopback file stays", () => {
  const mark = ["// lane", "quiet — timing claims"].join(": ");
  expect(laneOf(`${mark}\n${call("startEmulator")}`)).toBe("quiet");
  expect(laneOf(`${mark}\nrun("${DEMO}", [], env)`)).toBe("quiet");
  expect(laneOf(`${mark}\n${call("startProxy")}`)).toBe("loopback");
  expect(laneOf(`const x = 1; ${mark}\n${call("startEmulator")}`)).toBe("droplets");
  expect(LANE_NETWORK.quiet).toBe(0);
});

test("a file that says so runs alone, whatever else it does", () => {
  const mark = ["// lane", "alone — it reads this machine's CPU"].join(": ");
  expect(laneOf(`${mark}\n${call("startEmulator")}`)).toBe("alone");
  expect(laneOf(`const x = 1; ${mark}`)).toBe("loopback");
});

test("the tree's test files split as their needs say, each lane sorted, as file paths", () => {
  const paths = [...new Bun.Glob("tests/**/*.test.ts").scanSync({ cwd: ROOT })];
  const lanes = splitLanes(
    paths.map((path) => ({ path, source: readFileSync(join(ROOT, path), "utf8") })),
  );
  expect(LANES.reduce((sum, lane) => sum + lanes[lane].length, 0)).toBe(paths.length);
  // the pre-commit hook runs this in a copy without the integration tests: those it has
  const present = (files: string[]) => files.filter((file) => paths.includes(file));
  expect(lanes.alone).toEqual(
    present(["tests/server/monitor/monitor.integration.test.ts"]).map((f) => `./${f}`),
  );
  expect(lanes.quiet).toEqual(
    present(["tests/scripts/demo.integration.test.ts"]).map((f) => `./${f}`),
  );
  for (const file of present([
    "tests/guide.integration.test.ts",
    "tests/pipeline/heal.integration.test.ts",
  ]))
    expect(lanes.droplets).toContain(`./${file}`);
  for (const file of present([
    "tests/scripts/setup.integration.test.ts",
    "tests/server/emulator/emulator.integration.test.ts",
    "tests/server/receiver/push.integration.test.ts",
    "tests/pipeline/scale.integration.test.ts",
    "tests/server/receiver/certificates.integration.test.ts",
    "tests/server/shared/deliver.integration.test.ts",
  ]))
    expect(lanes["droplets-1"]).toContain(`./${file}`);
  for (const file of present([
    // its own namespace and subnet, not the emulator's
    "tests/ansible/dropship-service.integration.test.ts",
    "tests/server/proxy/http.integration.test.ts",
    "tests/scripts/lib/test-lanes.test.ts",
  ]))
    expect(lanes.loopback).toContain(`./${file}`);
  for (const lane of LANES) expect(lanes[lane]).toEqual([...lanes[lane]].sort());
});

test("a run's summary is its count lines, in one line", () => {
  const output =
    "tests/a.test.ts:\n(pass) x [1ms]\n\n 12 pass\n 1 fail\n 40 expect() calls\nRan 13 tests across 2 files. [3.10s]\n";
  expect(summaryOf(output)).toBe("12 pass, 1 fail, Ran 13 tests across 2 files. [3.10s]");
  expect(summaryOf("error: something broke before any test\n")).toBe("");
});

test("a failed test is shown with its file and the error bun printed before it", () => {
  const output = [
    "tests/a.test.ts:",
    "(pass) first [1ms]",
    "error: expect(received).toBe(expected)",
    "Expected: 1",
    "Received: 2",
    "(fail) second [2ms]",
    "(pass) third [1ms]",
    "",
    "tests/b.test.ts:",
    "boom",
    "(fail) fourth [3ms]",
    " 2 pass",
    " 2 fail",
  ].join("\n");
  expect(failuresOf(output)).toBe(
    [
      "tests/a.test.ts:",
      "error: expect(received).toBe(expected)",
      "Expected: 1",
      "Received: 2",
      "(fail) second [2ms]",
      "",
      "tests/b.test.ts:",
      "boom",
      "(fail) fourth [3ms]",
    ].join("\n"),
  );
});

test("a long error keeps its last lines; a run with no failed test shows its end", () => {
  const noise = Array.from({ length: 100 }, (_, index) => `line ${index}`);
  const excerpt = failuresOf(["tests/a.test.ts:", ...noise, "(fail) long [1ms]"].join("\n"));
  expect(excerpt.split("\n")).toHaveLength(42);
  expect(excerpt).toStartWith("tests/a.test.ts:\nline 60\n");
  expect(failuresOf([...noise, "error: preload failed"].join("\n"))).toStartWith("line 61\n");
  expect(failuresOf([...noise, "error: preload failed"].join("\n"))).toEndWith(
    "error: preload failed",
  );
});

test("what a lane left running is the rest of its session, named, odd names included, the dead not", () => {
  const stat = (pid: number, name: string, sid: number, state = "S") =>
    `${pid} (${name}) ${state} 1 ${pid} ${sid} 0 -1 4194560 120 0 0 0 3 1 0 0 20 0 1 0 5000`;
  const stats = [
    { pid: 100, stat: stat(100, "bun", 100) }, // the lane's own bun test: it leads the session
    { pid: 101, stat: stat(101, "redis-server", 100) },
    { pid: 102, stat: stat(102, "a (b) c", 100) },
    { pid: 103, stat: stat(103, "sshd", 7) }, // another session: a daemon that left it
    { pid: 104, stat: stat(104, "lxcfs", 100, "Z") }, // dead, waiting for its parent
  ];
  expect(leftInSession(stats, 100)).toEqual([
    { pid: 101, name: "redis-server" },
    { pid: 102, name: "a (b) c" },
  ]);
  expect(leftInSession(stats, 7)).toEqual([{ pid: 103, name: "sshd" }]);
  expect(leftInSession(stats, 200)).toEqual([]);
});

test("the lane's session is the one a real leftover is in", async () => {
  const child = Bun.spawn(["setsid", "sh", "-c", "sleep 30 > /dev/null & echo $!"], {
    stdout: "pipe",
  });
  const sleeper = Number((await new Response(child.stdout).text()).trim());
  await child.exited;
  try {
    const stat = readFileSync(`/proc/${sleeper}/stat`, "utf8");
    expect(leftInSession([{ pid: sleeper, stat }], child.pid)).toEqual([
      { pid: sleeper, name: "sleep" },
    ]);
  } finally {
    process.kill(sleeper, "SIGKILL");
  }
});
