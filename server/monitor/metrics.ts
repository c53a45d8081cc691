import type { Monitor } from "./monitor.ts";

/** The host's figures and firing alerts in Prometheus text format. */
export function renderMetrics(monitor: Monitor, host: string, role: string): string {
  const labels = `host="${host}",role="${role}"`;
  const lines = [
    "# HELP dropship_host_cpu_percent Busy CPU over the last interval.",
    "# TYPE dropship_host_cpu_percent gauge",
    `dropship_host_cpu_percent{${labels}} ${monitor.latest.cpu.toFixed(2)}`,
    "# HELP dropship_host_memory_percent Memory in use (MemTotal - MemAvailable).",
    "# TYPE dropship_host_memory_percent gauge",
    `dropship_host_memory_percent{${labels}} ${monitor.latest.memory.toFixed(2)}`,
    "# HELP dropship_host_disk_percent The root filesystem in use, as df's Use%.",
    "# TYPE dropship_host_disk_percent gauge",
    `dropship_host_disk_percent{${labels}} ${monitor.latest.disk.toFixed(2)}`,
    "# HELP dropship_monitor_samples_total Samples taken since start.",
    "# TYPE dropship_monitor_samples_total counter",
    `dropship_monitor_samples_total{${labels}} ${monitor.latest.samples}`,
    "# HELP dropship_alert_firing Alerts this monitor has firing.",
    "# TYPE dropship_alert_firing gauge",
    ...[...monitor.firing.keys()].map((id) => `dropship_alert_firing{${labels},alert="${id}"} 1`),
  ];
  return `${lines.join("\n")}\n`;
}
