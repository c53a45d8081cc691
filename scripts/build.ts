import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { runCli, UsageError } from "./lib/cli.ts";

const USAGE = `
Usage: bun run build [--outdir DIR] [--version V]

Compiles the servers into single binaries with \`bun build --compile\`: dist/dropship-proxy,
dropship-app, dropship-monitor and dropship-receiver, each stamped with the
git commit it was built from (\`--version\` prints it, /healthz reports it; "-dirty" when the
work tree has uncommitted changes). Writes SHA256SUMS beside them.
`;

export const SERVERS = ["proxy", "app", "monitor", "receiver"] as const;
const ROOT = resolve(import.meta.dir, "..");

await runCli("build", USAGE, async (args) => {
  const outdir = resolve(optionValue(args, "--outdir") ?? join(ROOT, "dist"));
  const version = optionValue(args, "--version") ?? gitVersion();
  if (!/^[\w.-]{1,64}$/.test(version))
    throw new UsageError(
      `version ${JSON.stringify(version)} is not valid — letters, digits, dots, dashes`,
    );
  mkdirSync(outdir, { recursive: true });
  const sums: string[] = [];
  for (const name of SERVERS) {
    const entry = join(ROOT, `server/${name}/main.ts`);
    if (!existsSync(entry)) continue;
    const outfile = join(outdir, `dropship-${name}`);
    const started = performance.now();
    const proc = Bun.spawnSync(
      [
        process.execPath,
        "build",
        "--compile",
        "--minify",
        // ssh2's optional native speed-up: left out, ssh2 falls back to its pure-JS path
        "--external",
        "cpu-features",
        "--define",
        `DROPSHIP_BUILD_VERSION=${JSON.stringify(version)}`,
        entry,
        "--outfile",
        outfile,
      ],
      { cwd: ROOT, stdout: "pipe", stderr: "pipe" },
    );
    if (proc.exitCode !== 0)
      throw new UsageError(`dropship-${name} did not compile:\n${proc.stderr.toString().trim()}`);
    const sha = new Bun.CryptoHasher("sha256")
      .update(await Bun.file(outfile).arrayBuffer())
      .digest("hex");
    sums.push(`${sha}  dropship-${name}`);
    const mb = (Bun.file(outfile).size / 1048576).toFixed(0);
    console.log(
      `dropship-${name} ${version}: ${mb} MB in ${((performance.now() - started) / 1000).toFixed(1)} s`,
    );
  }
  writeFileSync(join(outdir, "SHA256SUMS"), `${sums.join("\n")}\n`);
  console.log(`wrote ${outdir}`);
});

function optionValue(args: string[], name: string): string | undefined {
  const at = args.indexOf(name);
  if (at < 0) return undefined;
  const value = args[at + 1];
  if (!value) throw new UsageError(`${name} needs a value`);
  return value;
}

function gitVersion(): string {
  const sha = Bun.spawnSync(["git", "rev-parse", "--short=12", "HEAD"], {
    cwd: ROOT,
    stderr: "pipe",
  });
  if (sha.exitCode !== 0) throw new UsageError("not a git checkout; give --version");
  const dirty =
    Bun.spawnSync(["git", "status", "--porcelain"], { cwd: ROOT }).stdout.toString().trim() !== "";
  return `${sha.stdout.toString().trim()}${dirty ? "-dirty" : ""}`;
}
