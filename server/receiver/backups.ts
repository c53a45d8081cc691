import {
  BACKUP_RETRY_MS,
  backupMail,
  describeBackup,
  nextBackupAt,
} from "../../pipeline/backup.ts";
import {
  type BackupAfter,
  type BackupOptions,
  lastBackupAt,
  runAfter,
  takeBackup,
} from "../../pipeline/backup-sets.ts";
import type { Mail } from "../shared/mailer.ts";

export interface BackupScheduleDeps {
  backup: Omit<BackupOptions, "by">;
  /** backup/after, when set */
  after?: BackupAfter;
  /** backup/every, ms */
  every: number;
  /** the config's name, for the mails' subjects */
  site: string;
  say: (line: string) => void;
  notify?: (mail: Mail) => void;
  /** records a set taken in the audit stream */
  audit?: (name: string, setDir: string) => Promise<void>;
  now?: () => number;
}

/**
 * The receiver's scheduled backups (backup/enabled): looked at every `tickMs`, a set taken once
 * `nextBackupAt` says so, one at a time; a failure is said, retried and mailed once.
 */
export function startBackupSchedule(deps: BackupScheduleDeps, tickMs: number) {
  const now = deps.now ?? Date.now;
  const startedAt = now();
  let lastFailure: number | undefined;
  let failing = false;
  let running: Promise<void> | undefined;
  let stopped = false;

  const attempt = async () => {
    let outcome: { ok: true; name: string } | { ok: false; error: string };
    try {
      const taken = await takeBackup({ ...deps.backup, by: "dropship-receiver" });
      for (const line of describeBackup(taken, deps.backup.gitopsRepo)) deps.say(line);
      taken.after = await runAfter(deps.after, taken, deps.backup.dir);
      await deps.audit?.(taken.manifest.name, taken.setDir).catch((error: Error) => {
        deps.say(`backup: ${taken.manifest.name} taken, not audited (${error.message})`);
      });
      // the set is taken: backup/after runs again with the next one, not in 15 minutes with a
      // new set each time (which would push the older sets out of backup/keep)
      outcome =
        taken.after?.ok === false
          ? { ok: false, error: `${taken.manifest.name} is kept, but ${taken.after.error}` }
          : { ok: true, name: taken.manifest.name };
      if (!outcome.ok) deps.say(`backup: ${outcome.error}`);
    } catch (error) {
      lastFailure = now();
      outcome = { ok: false, error: (error as Error).message };
      deps.say(
        `backup: failed, tried again within ${Math.round(Math.min(deps.every, BACKUP_RETRY_MS) / 60_000)} min: ${outcome.error}`,
      );
    }
    const mailed = backupMail(failing, outcome, deps.site);
    failing = mailed.failing;
    if (mailed.mail) deps.notify?.(mailed.mail);
  };

  const tick = () => {
    if (stopped || running) return;
    const due = nextBackupAt({
      lastSet: lastBackupAt(deps.backup.dir),
      lastFailure,
      every: deps.every,
      startedAt,
    });
    if (now() < due) return;
    running = attempt().finally(() => {
      running = undefined;
    });
  };
  const timer = setInterval(tick, tickMs);
  tick();
  return {
    /** Stops looking; a backup under way is finished first. */
    stop: async () => {
      stopped = true;
      clearInterval(timer);
      await running;
    },
  };
}
