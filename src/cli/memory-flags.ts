/**
 * Imported by the CLI right after the Node version check: a bootstrap peer
 * runs Node with `--optimize-for-size`.
 *
 * Under hostile input at V8's defaults, two parts of the heap grow and stay
 * grown while the peer is busy:
 * - the young generation reaches its maximum (134 MB committed here);
 * - the old generation grows far past the live heap.
 *
 * In the 3-minute `fuzz:memory` attack on `/membrane/dm` that meant an RSS of
 * 2.6× a quiet peer's at the end, and still 2.6× a minute later, although a
 * memory-reducing GC brings it to 0.8×. With the flag the same attack peaked at
 * 1.15× and was at 1.08× a minute later, answering 3 % fewer inputs per
 * second (docs/fuzzing.md).
 *
 * A flag that sizes the heap only counts at launch (`v8.setFlagsFromString()`
 * comes too late). So a `bootstrap` or `start` run that did not get it
 * replaces itself with one that does: `process.execve`, which keeps the PID
 * and the standard streams (a systemd unit or a container sees one process).
 * `MEMBRANE_OPTIMIZE_FOR_SIZE=0` turns this off. Where `process.execve` does
 * not exist (Windows) the CLI runs as it was started.
 */
export const SIZE_FLAG = '--optimize-for-size'

// the command may follow options (`membrane --port 0 bootstrap`)
const serves = process.argv.slice(2).some(arg => arg === 'bootstrap' || arg === 'start')
if (serves &&
  process.env.MEMBRANE_OPTIMIZE_FOR_SIZE !== '0' &&
  !process.execArgv.includes(SIZE_FLAG) &&
  typeof process.execve === 'function') {
  process.execve(process.execPath, [process.execPath, SIZE_FLAG, ...process.execArgv, ...process.argv.slice(1)], process.env)
}
