import { dlopen, FFIType, read } from "bun:ffi";

/**
 * flock(2) on an open file, through libc: the kernel lets go of the lock when its holder
 * closes the file or dies, however it dies, so no lock outlives its process and none needs
 * taking over (Bun has no flock of its own).
 */
const LOCK_SH = 1;
const LOCK_EX = 2;
const LOCK_NB = 4;
const LOCK_UN = 8;
const EINTR = 4;
const EWOULDBLOCK = 11;

let libc: ReturnType<typeof open> | undefined;
function open() {
  return dlopen("libc.so.6", {
    flock: { args: [FFIType.i32, FFIType.i32], returns: FFIType.i32 },
    __errno_location: { args: [], returns: FFIType.ptr },
  }).symbols;
}

function flock(fd: number, operation: number, what: string): boolean {
  libc ??= open();
  for (;;) {
    if (libc.flock(fd, operation) === 0) return true;
    const errno = read.i32(
      libc.__errno_location() as NonNullable<ReturnType<typeof libc.__errno_location>>,
      0,
    );
    if (errno === EWOULDBLOCK) return false;
    if (errno !== EINTR) throw new Error(`${what}: flock failed (errno ${errno})`);
  }
}

/** Takes the exclusive lock on an open file if no one holds it: whether it did. */
export function tryLockExclusive(fd: number, what: string): boolean {
  return flock(fd, LOCK_EX | LOCK_NB, what);
}

/** Takes a shared lock if no one holds the exclusive one: whether it did. */
export function tryLockShared(fd: number, what: string): boolean {
  return flock(fd, LOCK_SH | LOCK_NB, what);
}

export function unlock(fd: number, what: string): void {
  flock(fd, LOCK_UN, what);
}
