// Preloaded into each test file's process by scripts/test.js (NODE_OPTIONS --import).
//
// Works around nodejs/node#64833: with --test-force-exit, a test file's process
// streams its results to the runner over a pipe, which is non-blocking on Linux,
// and the forced process.exit() can drop the last results still buffered in it.
// The runner then reports fewer tests than ran and still exits 0 (seen here: the
// last four tests of network-map-parts.spec.js missing from a busy-core run).
// The runner's own report, when its stdout is a pipe (scripts/test.js reads
// it), is cut the same way at its forced exit. A blocking pipe has nothing
// buffered to drop. Only the runner (`node --test`) and a test file's own
// process (marked by the runner with NODE_TEST_CONTEXT) are touched, not the
// processes the tests start, whose piped output a test may never read.
const runner = process.execArgv.includes('--test')
const testFile = process.env.NODE_TEST_CONTEXT != null && /\.spec\.js$/.test(process.argv[1] ?? '')
if (runner || testFile) {
  process.stdout._handle?.setBlocking?.(true)
}
