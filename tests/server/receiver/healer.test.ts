import { expect, test } from "bun:test";
import type { ScaleDeps } from "../../../pipeline/scale.ts";
import { ProvisionBreaker } from "../../../server/receiver/breaker.ts";
import { startHealer } from "../../../server/receiver/healer.ts";
import { parseConfigText } from "../../../server/shared/config/load.ts";
import { eventually } from "../../helpers/server.ts";
import { settledWithin, stalledCall } from "../../helpers/stall.ts";

/**
 * A healer whose look at the inventory waits until released, then fails (as with the GitOps
 * repository unreadable): nothing past it is reached.
 */
function stalledHealer() {
  const said: string[] = [];
  const read = stalledCall(() => {
    throw new Error("the inventory is not readable");
  });
  const deps = {
    config: parseConfigText("dropship.yml", "heal: { enabled: true }\n"),
    repo: { read: read.call },
    say: (line: string) => said.push(line),
  } as unknown as ScaleDeps;
  const healer = startHealer(deps, new ProvisionBreaker(3, () => {}), 5, async () => true);
  return { healer, said, read };
}

test("stop resolves only once the look under way has finished, and no look starts after it", async () => {
  const { healer, said, read } = stalledHealer();
  await eventually(async () => read.calls() > 0, 5000, "the first call");
  const stopping = healer.stop();
  // a look that has read the fleet may still start a replacement: a healer started now (an
  // edited config) would not know of it, and could replace the same host again
  expect(await settledWithin(stopping, 50)).toBe(false);
  read.release();
  await stopping;
  expect(said).toEqual([
    "heal: cannot read the fleet (the inventory is not readable); trying again",
  ]);
  await Bun.sleep(30);
  expect(read.calls()).toBe(1);
});

test("a tick asked for during a look is that look: it resolves when the look has", async () => {
  const { healer, read } = stalledHealer();
  await eventually(async () => read.calls() > 0, 5000, "the first call");
  const ticked = healer.tick();
  expect(await settledWithin(ticked, 30)).toBe(false);
  expect(read.calls()).toBe(1);
  read.release();
  await ticked;
  await healer.stop();
});
