import type { FlagClient } from "../shared/flags/client.ts";
import { maintenancePage, parseMaintenance } from "../shared/routing/maintenance.ts";
import {
  type Alert,
  type Backend,
  type Canary,
  parseAlert,
  parseBackend,
  parseCanary,
  type Track,
} from "../shared/routing/model.ts";
import { CANARY_FIELD, KEYS, MAINTENANCE_FIELD } from "../shared/state/keys.ts";
import type { StateMirror } from "../shared/state/mirror.ts";
import type { Member, Pool } from "./pool.ts";
import { canaryBlock, chooseTrack } from "./split.ts";

/**
 * The proxy's routing view, rebuilt from the state mirror whenever it changes, so the hot
 * path reads plain fields: the pool, the canary, whether staging is blocked and why, and the
 * maintenance page while maintenance is on.
 */
export class Routing {
  canary: Canary;
  alerts: Alert[] = [];
  blockedBecause: string | undefined;
  /** when staging last became blocked or unblocked, for the status page */
  changedAt = Date.now();
  /** while maintenance is on: what every app request is answered with */
  maintenance: { message: string; page: Uint8Array } | undefined;

  constructor(
    readonly mirror: StateMirror,
    readonly pool: Pool,
    readonly flags: FlagClient,
    private readonly defaultWeight: number,
    private readonly onNewMembers: (members: Member[]) => void,
  ) {
    this.canary = parseCanary(undefined, defaultWeight);
    this.rebuild();
    mirror.onChange(() => this.rebuild());
  }

  trackFor(clientId: string): Track {
    return chooseTrack(this.canary, this.blockedBecause !== undefined, clientId);
  }

  private rebuild() {
    const backends: Backend[] = [];
    for (const [, entry] of this.mirror.entries(KEYS.backends)) {
      const backend = parseBackend(entry.json);
      if (backend) backends.push(backend);
    }
    const added = this.pool.setBackends(backends);
    this.canary = parseCanary(this.mirror.get(KEYS.canary, CANARY_FIELD), this.defaultWeight);
    this.alerts = [];
    for (const [, entry] of this.mirror.entries(KEYS.alerts)) {
      const alert = parseAlert(entry.json);
      if (alert) this.alerts.push(alert);
    }
    const blocked = canaryBlock(this.canary, this.alerts);
    if ((blocked === undefined) !== (this.blockedBecause === undefined))
      this.changedAt = Date.now();
    this.blockedBecause = blocked;
    const maintenance = parseMaintenance(this.mirror.get(KEYS.maintenance, MAINTENANCE_FIELD));
    if (!maintenance?.on) this.maintenance = undefined;
    else if (this.maintenance?.message !== maintenance.message)
      this.maintenance = {
        message: maintenance.message,
        page: new TextEncoder().encode(maintenancePage(maintenance.message)),
      };
    if (added.length > 0) this.onNewMembers(added);
  }
}
