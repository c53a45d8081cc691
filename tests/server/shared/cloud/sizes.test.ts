import { expect, test } from "bun:test";
import { formatCost, hourlyCost } from "../../../../server/shared/cloud/sizes.ts";

test("the fleet's cost adds list prices and names sizes it cannot price", () => {
  expect(hourlyCost(["s-1vcpu-1gb", "s-1vcpu-1gb", "s-2vcpu-4gb"])).toEqual({
    dollars: 0.05357,
    unpriced: [],
  });
  const partly = hourlyCost(["s-1vcpu-1gb", "gpu-h100x8"]);
  expect(partly).toEqual({ dollars: 0.00893, unpriced: ["gpu-h100x8"] });
  expect(formatCost(partly)).toBe("$0.0089/h (~$6/month) + gpu-h100x8 (price unknown)");
  expect(formatCost(hourlyCost([]))).toBe("$0.0000/h (~$0/month)");
});
