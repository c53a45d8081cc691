import { copyFileSync, existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { fileSha256 } from "../server/shared/file-digest.ts";
import {
  BUILD_CACHE_VARIABLE,
  BUILD_SERVERS_VARIABLE,
  formatSources,
  SOURCES_FILE,
} from "../server/shared/platform.ts";
import { cachedBuild, keepBuild } from "./lib/build-cache.ts";
import { ArgumentError, runVerb, UsageError, type VerbSpec } from "./lib/cli.ts";

const SPEC = {
  verb: "build",
  usage: ["build [--outdir DIR] [--version V]"],
  about: `Compiles the servers into single binaries with \`bun build --compile\`: dist/dropship-proxy,
dropship-app, dropship-monitor and dropship-receiver, each stamped with the
git commit it was built from (\`--version\` prints it, /healthz reports it; "-dirty" when the
work tree has uncommitted changes to tracked files). Writes SHA256SUMS beside them, and
SOURCES: the digest of each server's bundled code and Bun runtime, the same for two builds of
the same code, so an upgrade can tell which servers a commit changed. With
DROPSHIP_BUILD_CACHE, a binary compiled before from the same bundle, version and Bun is copied
from there instead.`,
  env: ["DROPSHIP_BUILD_SERVERS", "DROPSHIP_BUILD_CACHE"],
  options: {
    outdir: { type: "string", value: "DIR", description: "where the binaries go (default dist/)" },
    version: {
      type: "string",
      value: "V",
      description: "the version stamped in (default: the commit)",
    },
  },
} satisfies VerbSpec;

export const SERVERS = ["proxy", "app", "monitor", "receiver"] as const;
const ROOT = resolve(import.meta.dir, "..");

await runVerb(SPEC, async ({ values }) => {
  const outdir = resolve((values.outdir as string | undefined) ?? join(ROOT, "dist"));
  const version = (values.version as string | undefined) ?? gitVersion();
  if (!/^[\w.-]{1,64}$/.test(version))
    throw new ArgumentError(
      `version ${JSON.stringify(version)} is not valid — letters, digits, dots, dashes`,
    );
  const wanted = serversToBuild(process.env[BUILD_SERVERS_VARIABLE]);
  const cacheDir = process.env[BUILD_CACHE_VARIABLE] || undefined;
  mkdirSync(outdir, { recursive: true });
  const sums: string[] = [];
  const sources = new Map<string, string>();
  for (const name of wanted) {
    const entry = join(ROOT, `server/${name}/main.ts`);
    if (!existsSync(entry)) continue;
    const outfile = join(outdir, `dropship-${name}`);
    const started = performance.now();
    const flags = [
      "--compile",
      "--minify",
      // ssh2's optional native speed-up: left out, ssh2 falls back to its pure-JS path
      "--external",
      "cpu-features",
      "--define",
      `DROPSHIP_BUILD_VERSION=${JSON.stringify(version)}`,
    ];
    const cached = cacheDir
      ? await cachedBuild(cacheDir, `dropship-${name}`, flags, await bundled(entry, version))
      : undefined;
    let hit = false;
    if (cached) {
      try {
        copyFileSync(cached, outfile);
        hit = true;
      } catch {
        // not in the cache (or let go by a build beside this one just now): compiled
      }
    }
    if (!hit) {
      const proc = Bun.spawnSync(
        [process.execPath, "build", ...flags, entry, "--outfile", outfile],
        { cwd: ROOT, stdout: "pipe", stderr: "pipe" },
      );
      if (proc.exitCode !== 0)
        throw new UsageError(`dropship-${name} did not compile:\n${proc.stderr.toString().trim()}`);
      if (cached) keepBuild(outfile, cached);
    }
    const sha = await fileSha256(outfile);
    sums.push(`${sha}  dropship-${name}`);
    sources.set(`dropship-${name}`, await sourceDigest(entry));
    const mb = (Bun.file(outfile).size / 1048576).toFixed(0);
    console.log(
      `dropship-${name} ${version}: ${mb} MB in ${((performance.now() - started) / 1000).toFixed(1)} s${hit ? " (the same as a build in the cache)" : ""}`,
    );
  }
  writeFileSync(join(outdir, "SHA256SUMS"), `${sums.join("\n")}\n`);
  writeFileSync(join(outdir, SOURCES_FILE), formatSources(sources));
  console.log(`wrote ${outdir}`);
});

/** The servers DROPSHIP_BUILD_SERVERS names (all when unset), in the usual order. */
function serversToBuild(list: string | undefined): readonly (typeof SERVERS)[number][] {
  if (!list) return SERVERS;
  const named = list.split(",").map((name) => name.trim());
  const unknown = named.filter((name) => !(SERVERS as readonly string[]).includes(name));
  if (unknown.length > 0)
    throw new ArgumentError(
      `${BUILD_SERVERS_VARIABLE} names ${unknown.join(", ")}, not one of ${SERVERS.join(", ")}`,
    );
  return SERVERS.filter((name) => named.includes(name));
}

/** The bundle a server compiles from, without the version stamp, and the runtime it runs on. */
async function sourceDigest(entry: string): Promise<string> {
  const hash = new Bun.CryptoHasher("sha256").update(Bun.version);
  for (const output of await bundled(entry, "")) hash.update(output);
  return hash.digest("hex").slice(0, 32);
}

/** What `bun build --compile` bundles from `entry`, stamped `version`, as the flags above say. */
async function bundled(entry: string, version: string): Promise<ArrayBuffer[]> {
  const bundle = await Bun.build({
    entrypoints: [entry],
    target: "bun",
    minify: true,
    external: ["cpu-features"],
    define: { DROPSHIP_BUILD_VERSION: JSON.stringify(version) },
  });
  if (!bundle.success) throw new UsageError(`${entry} did not bundle: ${bundle.logs.join("\n")}`);
  return Promise.all(bundle.outputs.map((output) => output.arrayBuffer()));
}

function gitVersion(): string {
  const sha = Bun.spawnSync(["git", "rev-parse", "--short=12", "HEAD"], {
    cwd: ROOT,
    stderr: "pipe",
  });
  if (sha.exitCode !== 0) throw new UsageError("not a git checkout; give --version");
  // untracked files are not the code built (dropship.yml, made by copying the example, is one)
  const dirty =
    Bun.spawnSync(["git", "status", "--porcelain", "--untracked-files=no"], { cwd: ROOT })
      .stdout.toString()
      .trim() !== "";
  return `${sha.stdout.toString().trim()}${dirty ? "-dirty" : ""}`;
}
