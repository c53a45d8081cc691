import { expect, test } from "bun:test";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { expandPath, locateConfig } from "../../../../server/shared/config/locate.ts";
import { tempDir } from "../../../helpers/tmp.ts";

test("~ and $VAR are expanded in path settings; an unset variable is named", () => {
  const env = { HOME: "/home/ann", KEYS: "/srv/keys" };
  expect(expandPath("~/.ssh/dropship", env)).toBe("/home/ann/.ssh/dropship");
  expect(expandPath("~", env)).toBe("/home/ann");
  expect(expandPath("$KEYS/id", env)).toBe("/srv/keys/id");
  // biome-ignore lint/suspicious/noTemplateCurlyInString: the shell form ${VAR} is what is tested
  expect(expandPath("${KEYS}/id", env)).toBe("/srv/keys/id");
  expect(expandPath("/etc/x~y", env)).toBe("/etc/x~y");
  expect(() => expandPath("$NOPE/id", env)).toThrow("$NOPE/id names $NOPE, which is not set");
});

test("DROPSHIP_CONFIG wins, then dropship.yml in the working directory, then none, each said", () => {
  const dir = tempDir("dropship-locate-");
  const none = locateConfig({}, dir);
  expect(none.file).toBeUndefined();
  expect(none.said).toBe(
    `config: none (no dropship.yml in ${dir} and DROPSHIP_CONFIG unset): the defaults`,
  );
  writeFileSync(join(dir, "dropship.yml"), "name: shop\n");
  expect(locateConfig({}, dir)).toEqual({
    file: join(dir, "dropship.yml"),
    said: `config: ${join(dir, "dropship.yml")}`,
  });
  mkdirSync(join(dir, "etc"));
  const named = locateConfig({ DROPSHIP_CONFIG: "~/shop.yml", HOME: join(dir, "etc") }, dir);
  expect(named.file).toBe(join(dir, "etc/shop.yml"));
  expect(named.said).toBe(`config: ${join(dir, "etc/shop.yml")} (DROPSHIP_CONFIG)`);
});
