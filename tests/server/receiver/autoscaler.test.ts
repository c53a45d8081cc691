import { expect, test } from "bun:test";
import type { ScaleDeps } from "../../../pipeline/scale.ts";
import { startAutoscaler } from "../../../server/receiver/autoscaler.ts";
import { ProvisionBreaker } from "../../../server/receiver/breaker.ts";
import { parseConfigText } from "../../../server/shared/config/load.ts";
import { eventually } from "../../helpers/server.ts";
import { settledWithin, stalledCall } from "../../helpers/stall.ts";

/**
 * An autoscaler whose look at Redis waits until released, then fails (as with Redis gone): the
 * rest of what scaling needs is never reached.
 */
function stalledAutoscaler() {
  const said: string[] = [];
  const look = stalledCall(() => {
    throw new Error("Redis went away");
  });
  const deps = {
    config: parseConfigText("dropship.yml", "autoscale: { enabled: true }\n"),
    redis: { xrevrange: look.call },
    say: (line: string) => said.push(line),
  } as unknown as ScaleDeps;
  const autoscaler = startAutoscaler(deps, 5, new ProvisionBreaker(3, () => {}));
  return { autoscaler, said, look };
}

test("stop resolves only once the look under way has finished, and no look starts after it", async () => {
  const { autoscaler, said, look } = stalledAutoscaler();
  await eventually(async () => look.calls() > 0, 5000, "the first call");
  const stopping = autoscaler.stop();
  // the look is still waiting: a second autoscaler started now would act beside it
  expect(await settledWithin(stopping, 50)).toBe(false);
  expect(look.calls()).toBe(1);
  look.release();
  await stopping;
  expect(said).toEqual(["autoscaler: cannot read the fleet (Redis went away); trying again"]);
  await Bun.sleep(30);
  expect(look.calls()).toBe(1);
});

test("stopped before its first look, it never looks", async () => {
  const { autoscaler, look } = stalledAutoscaler();
  await autoscaler.stop();
  await Bun.sleep(30);
  expect(look.calls()).toBe(0);
  look.release();
});
