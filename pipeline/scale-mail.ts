import type { FleetHostRecord, FleetInventory } from "../gitops/model.ts";
import { formatCost, hourlyCost } from "../server/shared/cloud/sizes.ts";
import type { Mail } from "../server/shared/mailer.ts";

export type ScaleEvent =
  | { kind: "added" | "removed"; host: FleetHostRecord; why: string; fleet: FleetInventory }
  | { kind: "failed"; name: string; why: string; error: string; maxFailures: number }
  | { kind: "stopped"; failures: number; error: string }
  | {
      kind: "replaced";
      old: FleetHostRecord;
      host: FleetHostRecord;
      why: string;
      fleet: FleetInventory;
    };

/** The notice a person gets for each scaling event: what happened, why, and what it costs now. */
export function scaleMail(event: ScaleEvent): Mail {
  if (event.kind === "failed") {
    return {
      subject: `[dropship] scale out failed: ${event.name} was not added`,
      text: [
        `Adding ${event.name} failed and was undone: the droplet was deleted and the inventory is unchanged.`,
        `Why it was being added: ${event.why}`,
        `What failed: ${event.error}`,
        `The autoscaler tries again after its cooldown, and mails again only when a host is added, or when it stops after ${event.maxFailures} failures in a row (autoscale/max_failures).`,
      ].join("\n"),
    };
  }
  if (event.kind === "stopped") {
    return {
      subject: `[dropship] autoscaler stopped after ${event.failures} failed provisions`,
      text: [
        `The autoscaler gave up after ${event.failures} failed provisions in a row: it will neither scale nor replace dead hosts on its own.`,
        `Last failure: ${event.error}`,
        "Fix the cause (bun run scale adds a host by hand and shows each step), then restart the receiver to reset it.",
      ].join("\n"),
    };
  }
  if (event.kind === "replaced") {
    const { old, host } = event;
    return {
      subject: `[dropship] heal: ${old.name} replaced by ${host.name}`,
      text: [
        `${old.name} (${old.address}, droplet ${old.dropletId}) was ${event.why}.`,
        `${host.name} (${host.address}, droplet ${host.dropletId}, ${host.size} in ${host.region}) replaces it, on release ${host.release ?? "-"}, and serves ${host.role}; the old droplet was deleted where it still existed.`,
        `The fleet costs ${formatCost(hourlyCost(event.fleet.hosts.map((h) => h.size)))}.`,
      ].join("\n"),
    };
  }
  const { host, fleet } = event;
  const production = fleet.hosts.filter((h) => h.role === "production").length;
  const verb = event.kind === "added" ? "added to" : "removed from";
  return {
    subject: `[dropship] scale ${event.kind === "added" ? "out" : "in"}: ${host.name} ${verb} production`,
    text: [
      `${host.name} (${host.address}, droplet ${host.dropletId}, ${host.size} in ${host.region}) was ${verb} production.`,
      `Why: ${event.why}`,
      `Production now has ${production} host${production === 1 ? "" : "s"}; the fleet costs ${formatCost(hourlyCost(fleet.hosts.map((h) => h.size)))}.`,
    ].join("\n"),
  };
}
