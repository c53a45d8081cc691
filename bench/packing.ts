/**
 * What a delivery's delta costs at both ends, on real binaries: two releases of dropship-app
 * (another version stamp, the same size) and dropship-monitor against dropship-app (another
 * size: a host's second binary of a release). For each pair, the block delta `packed` makes
 * and, for comparison, the zstd patch (`--patch-from`) it falls back to: bytes on the wire,
 * pack time here, and the host's unpack CPU (user + system), medians of `rounds`.
 *
 *   bun bench/packing.ts [rounds=5]
 */
import { mkdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { fileSha256 } from "../server/shared/file-digest.ts";
import { packed, unpackCommand, ZSTD_WINDOW } from "../server/shared/packing.ts";
import { median, ROOT, workDir } from "./lib.ts";

const rounds = Number(process.argv[2] ?? 5);
const dir = join(workDir, "packing");
mkdirSync(dir, { recursive: true });

const build = (version: string, servers: string) => {
  const out = join(dir, version);
  const proc = Bun.spawnSync(
    [process.execPath, join(ROOT, "scripts/build.ts"), "--outdir", out, "--version", version],
    { env: { ...process.env, DROPSHIP_BUILD_SERVERS: servers }, stdout: "pipe", stderr: "pipe" },
  );
  if (proc.exitCode !== 0) throw new Error(proc.stderr.toString());
  return out;
};
/** CPU seconds (user + system) of a shell command, as the host would run it. */
const cpuOf = (command: string) => {
  const proc = Bun.spawnSync(["sh", "-c", command]);
  if (proc.exitCode !== 0) throw new Error(`${command} failed: ${proc.stderr.toString()}`);
  const usage = proc.resourceUsage;
  return Number(usage.cpuTime.user + usage.cpuTime.system) / 1e6;
};

const v1 = build("v-1", "app,monitor");
const v2 = build("v-2", "app");
const pairs = [
  {
    what: "app v-1 → v-2 (same size)",
    base: join(v1, "dropship-app"),
    file: join(v2, "dropship-app"),
  },
  {
    what: "app → monitor (another size)",
    base: join(v1, "dropship-app"),
    file: join(v1, "dropship-monitor"),
  },
];
console.log(`| pair | method | sent | pack (wall) | unpack CPU |\n|---|---|---|---|---|`);
for (const { what, base, file } of pairs) {
  const baseSha = await fileSha256(base);
  const fileSha = await fileSha256(file);
  const block = { sent: 0, pack: [] as number[], unpack: [] as number[] };
  const patch = { sent: 0, pack: [] as number[], unpack: [] as number[] };
  for (let i = 0; i < rounds; i++) {
    const cache = join(dir, `cache-${i}`);
    let started = performance.now();
    const pack = await packed(cache, file, fileSha, { path: base, sha: baseSha });
    block.pack.push(performance.now() - started);
    block.sent = Bun.file(pack.file).size;
    block.unpack.push(cpuOf(unpackCommand(pack.file, join(dir, "out"), base, pack.runs)));
    if ((await fileSha256(join(dir, "out"))) !== fileSha)
      throw new Error("the block delta unpacked wrong");
    const patchFile = join(dir, `patch-${i}.zst`);
    started = performance.now();
    cpuOf(`zstd -q -f -1 ${ZSTD_WINDOW} --patch-from=${base} ${file} -o ${patchFile}`);
    patch.pack.push(performance.now() - started);
    patch.sent = Bun.file(patchFile).size;
    patch.unpack.push(cpuOf(unpackCommand(patchFile, join(dir, "out"), base)));
    rmSync(cache, { recursive: true, force: true });
  }
  for (const [method, m] of [
    ["block delta", block],
    ["zstd patch", patch],
  ] as const)
    console.log(
      `| ${what} | ${method} | ${(m.sent / 1024).toFixed(0)} KB | ${median(m.pack).toFixed(0)} ms | ${median(m.unpack).toFixed(2)} s |`,
    );
}
rmSync(dir, { recursive: true, force: true });
