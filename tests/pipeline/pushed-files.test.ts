import { expect, test } from "bun:test";
import { existsSync, lstatSync, mkdirSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { PushedFileError, plainFolder, plainIn, readPlain } from "../../pipeline/pushed-files.ts";
import { tempDir } from "../helpers/tmp.ts";

/** A pushed tree beside a "control host" folder with a secret in it. */
function tree() {
  const dir = tempDir();
  const root = join(dir, "workspace");
  const host = join(dir, "host");
  mkdirSync(join(root, "dist"), { recursive: true });
  mkdirSync(host);
  writeFileSync(join(host, "fleet.env"), "DIGITALOCEAN_TOKEN=dop_v1_secret\n");
  writeFileSync(join(root, "package.json"), '{ "name": "pushed" }\n');
  writeFileSync(join(root, "dist/dropship-app"), "binary");
  return { root, host };
}

const refusal = (work: () => unknown): string => {
  try {
    work();
  } catch (error) {
    expect(error).toBeInstanceOf(PushedFileError);
    return (error as Error).message;
  }
  return "no refusal";
};

test("plain files and folders are there; nothing there is false", () => {
  const { root } = tree();
  expect(plainIn(root, "package.json")).toBe(true);
  expect(plainIn(root, "dist/dropship-app")).toBe(true);
  expect(plainIn(root, "dist", "folder")).toBe(true);
  expect(plainIn(root, "bun.lock")).toBe(false);
  expect(plainIn(root, "nothing/here")).toBe(false);
  expect(readPlain(root, "package.json", 100).toString()).toBe('{ "name": "pushed" }\n');
});

test("a link at the end or on the way is refused, named, and never followed", () => {
  const { root, host } = tree();
  symlinkSync(join(host, "fleet.env"), join(root, "bun.lock"));
  symlinkSync(host, join(root, "out"));
  expect(refusal(() => plainIn(root, "bun.lock"))).toBe(
    "bun.lock is a symbolic link, not a file: the receiver reads the pushed tree as root and never follows a link out of it; make bun.lock a plain file",
  );
  expect(refusal(() => readPlain(root, "bun.lock", 1000))).not.toContain("dop_v1");
  // through a linked folder, even to a plain file at its end
  expect(refusal(() => plainIn(root, "out/fleet.env"))).toStartWith(
    "out is a symbolic link, not a folder",
  );
  expect(refusal(() => plainIn(root, "out", "folder"))).toStartWith("out is a symbolic link");
  // a link that leads nowhere is refused too, not taken for "not there"
  symlinkSync(join(host, "missing"), join(root, "dist/dropship-proxy"));
  expect(refusal(() => plainIn(root, "dist/dropship-proxy"))).toStartWith(
    "dist/dropship-proxy is a symbolic link",
  );
});

test("a FIFO, a folder where a file belongs, and a file past the size read are refused", () => {
  const { root } = tree();
  expect(Bun.spawnSync(["mkfifo", join(root, "dist/dropship-monitor")]).exitCode).toBe(0);
  expect(refusal(() => plainIn(root, "dist/dropship-monitor"))).toStartWith(
    "dist/dropship-monitor is a FIFO, not a file",
  );
  mkdirSync(join(root, "bun.lock"));
  expect(refusal(() => plainIn(root, "bun.lock"))).toStartWith("bun.lock is a folder, not a file");
  expect(refusal(() => readPlain(root, "package.json", 10))).toBe(
    "package.json is 21 bytes, more than the 10 the receiver reads of it",
  );
});

test("node_modules: made when the install made none, kept when real, refused when a link", () => {
  const { root, host } = tree();
  expect(plainFolder(root, "node_modules")).toBe(join(root, "node_modules"));
  expect(lstatSync(join(root, "node_modules")).isDirectory()).toBe(true);
  expect(plainFolder(root, "node_modules")).toBe(join(root, "node_modules"));
  const other = tree();
  symlinkSync(host, join(other.root, "node_modules"));
  expect(refusal(() => plainFolder(other.root, "node_modules"))).toStartWith(
    "node_modules is a symbolic link, not a folder",
  );
  expect(existsSync(join(host, "fleet.env"))).toBe(true);
});
