import { emulatorNames, emulatorNetworkOf } from "./network.ts";

/**
 * This process's emulator network, from DROPSHIP_EMULATOR_NETWORK, read once on load. The
 * emulator's main checks the variable before it loads what imports this, so a bad value is
 * said as a setting's fault there.
 */
export const EMULATOR = emulatorNames(emulatorNetworkOf(process.env));
