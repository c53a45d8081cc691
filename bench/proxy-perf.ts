/**
 * Where one dropship-proxy process spends its CPU, per request, down to its JavaScript
 * functions: `perf record` with call stacks while wrk loads it, and JavaScriptCore's JIT dump
 * (BUN_JSC_useJITDump) to name the JIT code. Each sample is put on the nearest JavaScript
 * function in its stack, and split by where it landed: the kernel (system calls and the TCP
 * stack), Bun's own native code (bun.exe has no symbols, so only its total), or JIT code.
 * Bun's sampling profiler (bench/proxy-profile.ts) sees only JavaScript frames and puts native
 * time on whatever JavaScript called it last; this does not.
 *
 *   bun bench/proxy-perf.ts [seconds=5] [connections=50] [checkout=.]
 *
 * BENCH_PERF_PROBE=raw-sockets (or another of bench/probes/) profiles that probe instead, for
 * the floor the proxy is compared with: what Bun spends with no HTTP work of its own.
 *
 * The proxy runs on the last core and everything else on the others. Needs perf
 * (apt-get install linux-perf), wrk and taskset; run as root, or with perf_event_paranoid ≤ 1.
 */
import { mkdirSync, readdirSync, readFileSync } from "node:fs";
import { availableParallelism } from "node:os";
import { join, resolve } from "node:path";
import { freePort, startDaemon, waitForHttp } from "../scripts/lib/processes.ts";
import {
  benchRedis,
  cleanup,
  routeToProduction,
  startTrivialUpstream,
  trackPid,
  workDir,
} from "./lib.ts";

const args = process.argv.slice(2);
const seconds = Number(args[0] ?? 5);
const connections = Number(args[1] ?? 50);
const checkout = resolve(args[2] ?? ".");
const probe = process.env.BENCH_PERF_PROBE;
const cores = availableParallelism();
const otherCores = cores > 1 ? ["taskset", "-c", `0-${cores - 2}`] : [];

interface Code {
  start: number;
  end: number;
  name: string;
}

/** JIT_CODE_LOAD records of a jitdump file (the format perf's `inject --jit` reads). */
export function jitCode(dump: Buffer): Code[] {
  const codes: Code[] = [];
  let at = dump.readUInt32LE(8); // the header's size
  while (at + 16 <= dump.length) {
    const id = dump.readUInt32LE(at);
    const size = dump.readUInt32LE(at + 4);
    if (size === 0) break;
    if (id === 0) {
      const start = Number(dump.readBigUInt64LE(at + 32));
      const length = Number(dump.readBigUInt64LE(at + 40));
      const nameAt = at + 56;
      const name = dump.toString("utf8", nameAt, dump.indexOf(0, nameAt));
      codes.push({ start, end: start + length, name: shortName(name) });
    }
    at += size;
  }
  return codes.sort((a, b) => a.start - b.start);
}

/** `forward#EHViJ3:[…]` → `forward`; thunks and stubs keep their kind. */
function shortName(name: string): string {
  const fn = /([A-Za-z_$][\w$]*)#[A-Za-z0-9]{6}/.exec(name);
  if (fn) return fn[1] as string;
  return name
    .replace(/^JSC-/, "")
    .replace(/:\s*unspecified$/, "")
    .slice(0, 50);
}

function codeAt(codes: Code[], address: number): Code | undefined {
  let low = 0;
  let high = codes.length - 1;
  while (low <= high) {
    const mid = (low + high) >> 1;
    const code = codes[mid] as Code;
    if (address < code.start) high = mid - 1;
    else if (address >= code.end) low = mid + 1;
    else return code;
  }
  return undefined;
}

type Where = "kernel" | "native" | "jit";

/** Per function (nearest JavaScript frame): samples by where the leaf landed. */
function attribute(script: string, codes: Code[]) {
  const byFunction = new Map<string, Record<Where, number>>();
  const total: Record<Where, number> = { kernel: 0, native: 0, jit: 0 };
  for (const sample of script.split("\n\n")) {
    const frames = sample
      .split("\n")
      .slice(1)
      .map((line) => /^\s*([0-9a-f]+)\s.*\((.*)\)\s*$/.exec(line))
      .filter((m): m is RegExpExecArray => m !== null)
      .map((m) => ({ address: Number.parseInt(m[1] as string, 16), dso: m[2] as string }));
    const leaf = frames[0];
    if (!leaf) continue;
    const leafCode = codeAt(codes, leaf.address);
    const where: Where = leafCode ? "jit" : leaf.dso.includes("kernel") ? "kernel" : "native";
    const js = leafCode ?? frames.map((f) => codeAt(codes, f.address)).find(Boolean);
    const name = js?.name ?? "(no JavaScript on the stack: the event loop)";
    const counts = byFunction.get(name) ?? { kernel: 0, native: 0, jit: 0 };
    counts[where]++;
    byFunction.set(name, counts);
    total[where]++;
  }
  return { byFunction, total };
}

try {
  const redis = await benchRedis();
  const upstreams = await Promise.all([0, 1].map(() => startTrivialUpstream(otherCores)));
  await routeToProduction(redis.url, upstreams);
  const dumps = join(workDir, "jitdump");
  mkdirSync(dumps);
  const port = freePort();
  const script = probe ? `bench/probes/${probe}.ts` : "server/proxy/main.ts";
  const pid = startDaemon(
    ["taskset", "-c", String(cores - 1), process.execPath, join(checkout, script)],
    {
      UPSTREAMS: upstreams.join(","),
      HOST: "127.0.0.1",
      PORT: String(port),
      REDIS_URL: redis.url,
      DROPSHIP_ADMIN_PORT: String(freePort()),
      DROPSHIP_PROXY_WORKERS: "1",
      BUN_JSC_useJITDump: "1",
      BUN_JSC_jitDumpDirectory: dumps,
    },
    join(workDir, "proxy.log"),
  );
  trackPid(pid);
  const url = `http://127.0.0.1:${port}`;
  // a probe answers every path from the upstreams
  await waitForHttp(`${url}/${probe ? "healthz" : "_dropship/healthz"}`, 15_000, "proxy");
  const load = (duration: number) =>
    Bun.spawnSync([
      ...otherCores,
      "wrk",
      "-t1",
      `-c${connections}`,
      `-d${duration}s`,
      `${url}/`,
    ]).stdout.toString();
  load(3); // warm: the JIT tiers up before anything counts
  const data = join(workDir, "perf.data");
  const perf = Bun.spawn(
    ["perf", "record", "-k", "mono", "-F", "2000", "-g", "-p", String(pid), "-o", data],
    { stdout: "ignore", stderr: "ignore" },
  );
  await Bun.sleep(300);
  const out = load(seconds);
  perf.kill("SIGINT");
  await perf.exited;
  const requests = Number(/(\d+) requests in/.exec(out)?.[1] ?? 0);
  const samples = Bun.spawnSync(["perf", "script", "-i", data], { stderr: "ignore" }).stdout;
  // one JS thread, one dump (named jit-<pid>-<n>.dump)
  const dump = readdirSync(dumps).find((f) => f.startsWith("jit-"));
  if (!dump) throw new Error(`no JIT dump in ${dumps}: see the proxy's log`);
  if (requests === 0) throw new Error(`wrk made no requests: ${out}`);
  const codes = jitCode(readFileSync(join(dumps, dump)));
  const { byFunction, total } = attribute(samples.toString(), codes);
  // 2000 samples a second: a sample is 500 µs of CPU
  const us = (samples: number) => ((samples * 500) / requests).toFixed(2);
  const all = total.kernel + total.native + total.jit;
  console.log(
    `\n${requests} requests (${/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? "?"} req/s), ${all} samples: ${us(all)} µs of CPU a request — kernel ${us(total.kernel)}, Bun's native code ${us(total.native)}, JIT code ${us(total.jit)}\n`,
  );
  console.log("| nearest JavaScript function | µs/req | kernel | native | JIT |");
  console.log("|---|---|---|---|---|");
  const rows = [...byFunction].sort(
    ([, a], [, b]) => b.kernel + b.native + b.jit - (a.kernel + a.native + a.jit),
  );
  for (const [name, c] of rows.slice(0, 25)) {
    console.log(
      `| ${name} | ${us(c.kernel + c.native + c.jit)} | ${us(c.kernel)} | ${us(c.native)} | ${us(c.jit)} |`,
    );
  }
} finally {
  await cleanup();
}
