// Preloaded into each test file's process by scripts/test.js (NODE_OPTIONS --import).
//
// Works around nodejs/node#64833: with --test-force-exit, a test file's process
// streams its results to the runner over a pipe, which is non-blocking on Linux,
// and the forced process.exit() can drop the last results still buffered in it.
// The runner then reports fewer tests than ran and still exits 0 (seen here: the
// last four tests of network-map-parts.spec.js missing from a busy-core run).
// A blocking pipe has nothing buffered to drop. Only a test file's own process
// is touched (the runner marks it with NODE_TEST_CONTEXT), not the processes its
// tests start, whose piped output a test may never read.
if (process.env.NODE_TEST_CONTEXT != null && /\.spec\.js$/.test(process.argv[1] ?? '')) {
  process.stdout._handle?.setBlocking?.(true)
}
