import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmdirSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import {
  CONTROLLERS,
  type Controller,
  cgroupFolder,
  cgroupPath,
  type Limits,
  limitFiles,
  type Place,
  type Places,
  placesFrom,
  trackingPlaces,
} from "./limits.ts";

/**
 * The droplets' cgroups (v1): one per droplet in every controller, under the emulator's own
 * cgroup, so whatever limits the emulator itself still holds for all of them; and one in each
 * hierarchy the droplets' nspawn and systemd keep track of processes in (trackingPlaces).
 */
export class Cgroups {
  private constructor(
    private readonly places: Places,
    private readonly tracking: Place[],
  ) {}

  /** The machine's cgroup v1 hierarchies, or why droplets cannot be limited here. */
  static detect(): Cgroups | string {
    let places: Places | string;
    let tracking: Place[];
    try {
      const mounts = readFileSync("/proc/mounts", "utf8");
      const own = readFileSync("/proc/self/cgroup", "utf8");
      places = placesFrom(mounts, own);
      tracking = trackingPlaces(mounts, own);
    } catch (error) {
      return `cannot read /proc (${(error as Error).message})`;
    }
    if (typeof places === "string") return places;
    const cgroups = new Cgroups(places, tracking);
    try {
      cgroups.ensureFolders();
    } catch (error) {
      return `cannot make cgroups (${(error as Error).message}); the emulator needs root`;
    }
    return cgroups;
  }

  /** Makes a droplet's cgroups with its limits; answers the files its first process joins by. */
  create(id: number, limits: Limits): string[] {
    this.ensureFolders();
    for (const controller of CONTROLLERS) {
      const dir = this.dirOf(controller, id);
      mkdirSync(dir, { recursive: true });
      if (controller === "cpuset") this.copyCpuset(join(dir, ".."), dir);
    }
    this.apply(id, limits);
    const tracked = this.trackingDirsOf(id);
    for (const dir of tracked) mkdirSync(dir, { recursive: true });
    return [...CONTROLLERS.map((c) => this.dirOf(c, id)), ...tracked].map((dir) =>
      join(dir, "cgroup.procs"),
    );
  }

  /** Puts new limits in force on a running droplet (resize). */
  apply(id: number, limits: Limits): void {
    for (const { controller, file, value } of limitFiles(limits))
      writeFileSync(join(this.dirOf(controller, id), file), value);
  }

  /** Removes a droplet's cgroups, killing what still runs in them (a host just killed). */
  remove(id: number): void {
    for (const controller of CONTROLLERS) removeCgroup(this.dirOf(controller, id));
    for (const dir of this.trackingDirsOf(id)) removeCgroup(dir);
  }

  /** Droplet cgroups that are here, by id (an earlier emulator's, or this one's). */
  private ids(): number[] {
    const ids = new Set<number>();
    for (const folder of this.folders()) {
      if (!existsSync(folder)) continue;
      for (const entry of readdirSync(folder, { withFileTypes: true }))
        if (entry.isDirectory() && /^\d+$/.test(entry.name)) ids.add(Number(entry.name));
    }
    return [...ids];
  }

  /** Removes every droplet cgroup and the emulator's folder in each hierarchy. */
  removeAll(): void {
    for (const id of this.ids()) this.remove(id);
    for (const folder of this.folders()) removeCgroup(folder);
  }

  /** The emulator's folder in every hierarchy it makes droplet cgroups in. */
  private folders(): string[] {
    return [
      ...CONTROLLERS.map((c) => this.folderOf(c)),
      ...this.tracking.map(({ mount, base }) => cgroupFolder(mount, base)),
    ];
  }

  private trackingDirsOf(id: number): string[] {
    return this.tracking.map(({ mount, base }) => cgroupPath(mount, base, id));
  }

  /** The emulator's folder in one hierarchy. */
  private folderOf(controller: Controller): string {
    const { mount, base } = this.places[controller];
    return cgroupFolder(mount, base);
  }

  private dirOf(controller: Controller, id: number): string {
    const { mount, base } = this.places[controller];
    return cgroupPath(mount, base, id);
  }

  private ensureFolders(): void {
    for (const controller of CONTROLLERS) {
      const folder = this.folderOf(controller);
      mkdirSync(folder, { recursive: true });
      if (controller === "cpuset") this.copyCpuset(join(folder, ".."), folder);
    }
    for (const { mount, base } of this.tracking)
      mkdirSync(cgroupFolder(mount, base), { recursive: true });
  }

  /** A new cpuset cgroup has no CPUs or memory nodes until given its parent's. */
  private copyCpuset(parent: string, child: string): void {
    for (const file of ["cpuset.cpus", "cpuset.mems"]) {
      const value = readFileSync(join(parent, file), "utf8").trim();
      if (readFileSync(join(child, file), "utf8").trim() !== value)
        writeFileSync(join(child, file), value);
    }
  }
}

/**
 * A cgroup can be removed only once no process is in it; a host's processes die a moment after
 * its PID 1 is killed, and one that lingers is killed here.
 */
function removeCgroup(dir: string): void {
  if (!existsSync(dir)) return;
  const deadline = Date.now() + 5_000;
  for (;;) {
    for (const child of readdirSync(dir, { withFileTypes: true }))
      if (child.isDirectory()) removeCgroup(join(dir, child.name));
    for (const pid of readFileSync(join(dir, "cgroup.procs"), "utf8").split("\n").filter(Boolean)) {
      try {
        process.kill(Number(pid), "SIGKILL");
      } catch {
        // gone
      }
    }
    try {
      rmdirSync(dir);
      return;
    } catch (error) {
      if (Date.now() > deadline)
        throw new Error(`cannot remove the cgroup ${dir}: ${(error as Error).message}`);
      Bun.sleepSync(20);
    }
  }
}
