/**
 * Imported first by every Node entry point (the library, `membrane/bootstrap`,
 * the CLI), so an old Node stops here, before any other module runs or any
 * file is written: libp2p 3 relies on Node 22 APIs such as
 * `Promise.withResolvers` and would otherwise fail later with an obscure error.
 */
export const MINIMUM_NODE_MAJOR = 22

const major = Number(process.versions.node.split('.')[0])
if (major < MINIMUM_NODE_MAJOR) {
  process.stderr.write(`Membrane needs Node ≥ ${MINIMUM_NODE_MAJOR} (found ${process.version})\n`)
  process.exit(2)
}
