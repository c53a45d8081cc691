import { expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileSha256 } from "../../../server/shared/file-digest.ts";
import { tempDir } from "../../helpers/tmp.ts";

test("a file's SHA-256 read in chunks is sha256sum's, for a file of many chunks and an empty one", async () => {
  const dir = tempDir("dropship-digest-");
  const big = join(dir, "big");
  writeFileSync(
    big,
    new Uint8Array(5 * 1024 * 1024 + 17).map((_, i) => (i * 31) % 251),
  );
  const empty = join(dir, "empty");
  writeFileSync(empty, "");
  for (const path of [big, empty]) {
    const sum = Bun.spawnSync(["sha256sum", path]).stdout.toString().split(" ")[0];
    expect(await fileSha256(path)).toBe(sum as string);
  }
});
