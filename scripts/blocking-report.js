// Preloaded into each test file's process by scripts/test.js (NODE_OPTIONS --import).
//
// Works around nodejs/node#64833: with --test-force-exit, a test file's process
// streams its results to the runner over a pipe, which is non-blocking on Linux,
// and the forced process.exit() can drop the last results still buffered in it.
// The runner then reports fewer tests than ran and still exits 0 (seen here: the
// last four tests of network-map-parts.spec.js missing from a busy-core run).
// A blocking pipe has nothing buffered to drop. Only a test file's own process
// (marked by the runner with NODE_TEST_CONTEXT) is touched, not the processes
// the tests start, whose piped output a test may never read. The runner's own
// report is not at risk: scripts/test.js sends it to a file
// (--test-reporter-destination), and node flushes a file at a forced exit.
const testFile = process.env.NODE_TEST_CONTEXT != null && /\.spec\.js$/.test(process.argv[1] ?? '')
if (testFile) {
  process.stdout._handle?.setBlocking?.(true)
}
