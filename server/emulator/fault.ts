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
