import { binaryOf, type Service } from "./roles.ts";

/** The file beside a release's binaries naming the source digest of each: `<digest>  <binary>`. */
export const SOURCES_FILE = "SOURCES";

/**
 * Every binary is stamped with the commit it was built from, so two builds of the same code
 * differ byte for byte. What a server runs is the same when the digest of its bundled code and
 * of the Bun runtime is: that is what says whether a push changed the proxy or the monitor.
 */
export function parseSources(text: string): Map<string, string> {
  const sources = new Map<string, string>();
  for (const line of text.split("\n")) {
    const match = /^([0-9a-f]{16,64}) {2}(dropship-[\w-]+)$/.exec(line.trim());
    if (match) sources.set(match[2] as string, match[1] as string);
  }
  return sources;
}

export function formatSources(sources: Map<string, string>): string {
  return `${[...sources].map(([binary, digest]) => `${digest}  ${binary}`).join("\n")}\n`;
}

/** The services whose code differs between what a host runs and a release (unknown counts as changed). */
export function changedServices(
  services: readonly Service[],
  running: Map<string, string>,
  release: Map<string, string>,
): Service[] {
  return services.filter((service) => {
    const binary = binaryOf(service);
    const now = running.get(binary);
    return now === undefined || now !== release.get(binary);
  });
}

/**
 * Which servers `bun run build` compiles, comma-separated (unset: all four). A release's build
 * in the gate leaves out the receiver, which runs on the control host and is never shipped.
 */
export const BUILD_SERVERS_VARIABLE = "DROPSHIP_BUILD_SERVERS";

/**
 * A directory of binaries `bun run build` made before, by what they were compiled from (the
 * bundle with its version stamp, the Bun that compiles it, the flags): the same again is
 * copied from there, not compiled (unset: every build compiles). Only for builds of code this
 * machine trusts: the gate's sandbox clears the environment, so a pushed tree never sees it.
 */
export const BUILD_CACHE_VARIABLE = "DROPSHIP_BUILD_CACHE";
