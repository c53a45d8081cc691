import { expect, test } from "bun:test";
import type { ScaleDeps } from "../../../pipeline/scale.ts";
import { startAutoscaler } from "../../../server/receiver/autoscaler.ts";
import { ProvisionBreaker } from "../../../server/receiver/breaker.ts";
import { parseConfigText } from "../../../server/shared/config/load.ts";

/**
 * An autoscaler whose first look at Redis waits until `release` is called; the rest of what
 * scaling needs is never reached (the look fails when released, as with Redis gone).
 */
function stalledAutoscaler() {
  const said: string[] = [];
  let looks = 0;
  let release = () => {};
  const released = new Promise<void>((resolve) => {
    release = resolve;
  });
  const redis = {
    xrevrange: async () => {
      looks++;
      await released;
      throw new Error("Redis went away");
    },
  };
  const deps = {
    config: parseConfigText("dropship.yml", "autoscale: { enabled: true }\n"),
    redis,
    say: (line: string) => said.push(line),
  } as unknown as ScaleDeps;
  const autoscaler = startAutoscaler(deps, 5, new ProvisionBreaker(3, () => {}));
  return { autoscaler, said, release, looks: () => looks };
}

test("stop resolves only once the look under way has finished, and no look starts after it", async () => {
  const { autoscaler, said, release, looks } = stalledAutoscaler();
  while (looks() === 0) await Bun.sleep(5);
  let stopped = false;
  const stopping = autoscaler.stop().then(() => {
    stopped = true;
  });
  await Bun.sleep(50);
  // the look is still waiting: a second autoscaler started now would act beside it
  expect(stopped).toBe(false);
  expect(looks()).toBe(1);
  release();
  await stopping;
  expect(said).toEqual(["autoscaler: cannot read the fleet (Redis went away); trying again"]);
  await Bun.sleep(30);
  expect(looks()).toBe(1);
});

test("stopped before its first look, it never looks", async () => {
  const { autoscaler, release, looks } = stalledAutoscaler();
  await autoscaler.stop();
  await Bun.sleep(30);
  expect(looks()).toBe(0);
  release();
});
