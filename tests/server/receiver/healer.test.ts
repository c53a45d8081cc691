import { expect, test } from "bun:test";
import type { ScaleDeps } from "../../../pipeline/scale.ts";
import { ProvisionBreaker } from "../../../server/receiver/breaker.ts";
import { startHealer } from "../../../server/receiver/healer.ts";
import { parseConfigText } from "../../../server/shared/config/load.ts";

/**
 * A healer whose look at the inventory waits until `release` is called, then fails (as with
 * the GitOps repository unreadable): nothing past it is reached.
 */
function stalledHealer() {
  const said: string[] = [];
  let looks = 0;
  let release = () => {};
  const released = new Promise<void>((resolve) => {
    release = resolve;
  });
  const repo = {
    read: async () => {
      looks++;
      await released;
      throw new Error("the inventory is not readable");
    },
  };
  const deps = {
    config: parseConfigText("dropship.yml", "heal: { enabled: true }\n"),
    repo,
    say: (line: string) => said.push(line),
  } as unknown as ScaleDeps;
  const healer = startHealer(deps, new ProvisionBreaker(3, () => {}), 5, async () => true);
  return { healer, said, release, looks: () => looks };
}

test("stop resolves only once the look under way has finished, and no look starts after it", async () => {
  const { healer, said, release, looks } = stalledHealer();
  while (looks() === 0) await Bun.sleep(5);
  let stopped = false;
  const stopping = healer.stop().then(() => {
    stopped = true;
  });
  await Bun.sleep(50);
  // a look that has read the fleet may still start a replacement: a healer started now (an
  // edited config) would not know of it, and could replace the same host again
  expect(stopped).toBe(false);
  release();
  await stopping;
  expect(said).toEqual([
    "heal: cannot read the fleet (the inventory is not readable); trying again",
  ]);
  await Bun.sleep(30);
  expect(looks()).toBe(1);
});

test("a tick asked for during a look is that look: it resolves when the look has", async () => {
  const { healer, release, looks } = stalledHealer();
  while (looks() === 0) await Bun.sleep(5);
  let done = false;
  const ticked = healer.tick().then(() => {
    done = true;
  });
  await Bun.sleep(30);
  expect(done).toBe(false);
  expect(looks()).toBe(1);
  release();
  await ticked;
  await healer.stop();
});
