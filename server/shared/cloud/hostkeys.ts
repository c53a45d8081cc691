import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { run } from "../proc.ts";

export interface HostKey {
  privateKey: string;
  /** `ssh-ed25519 AAAA… comment` */
  publicKey: string;
}

/** A fresh ed25519 host key, made here so it is known before the droplet's first contact. */
export function makeHostKey(comment: string): HostKey {
  const dir = mkdtempSync(join(tmpdir(), "dropship-hostkey-"));
  try {
    run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", join(dir, "key")]);
    return {
      privateKey: readFileSync(join(dir, "key"), "utf8"),
      publicKey: readFileSync(join(dir, "key.pub"), "utf8").trim(),
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** cloud-config user_data that makes cloud-init install this host key instead of making one. */
export function hostKeyUserData(key: HostKey): string {
  const indented = key.privateKey
    .trim()
    .split("\n")
    .map((line) => `    ${line}`)
    .join("\n");
  return `#cloud-config\nssh_deletekeys: true\nssh_genkeytypes: []\nssh_keys:\n  ed25519_private: |\n${indented}\n  ed25519_public: ${key.publicKey}\n`;
}

/** The known_hosts line that pins a host's key to its address. */
export function knownHostsLine(address: string, key: HostKey): string {
  const [type, blob] = key.publicKey.split(/\s+/);
  return `${address} ${type} ${blob}`;
}
