/** A request the real API would refuse, with its error id and message. */
export class ApiFault extends Error {
  constructor(
    readonly status: number,
    readonly id: string,
    message: string,
  ) {
    super(message);
  }
}

/** Now as the API writes times: ISO 8601 in UTC, whole seconds. */
export const apiTime = (): string => new Date().toISOString().replace(/\.\d+Z$/, "Z");
