// Bundle the browser build of the library and the example dapp with esbuild
import { writeFile } from 'node:fs/promises'
import { build } from 'esbuild'

const common = {
  bundle: true,
  format: 'esm',
  platform: 'browser',
  target: 'es2022',
  conditions: ['browser'],
  sourcemap: true,
  logLevel: 'warning',
  metafile: true,
  // libp2p code probes for these Node built-ins but never needs them in a browser
  define: { 'process.env.NODE_DEBUG': 'undefined' }
}

const [library, dapp, selfHosting] = await Promise.all([
  build({ ...common, entryPoints: ['src/index.browser.ts'], outfile: 'dist/browser/membrane.js' }),
  build({ ...common, entryPoints: ['examples/dapp/app.ts'], outfile: 'dist/dapp/app.js' }),
  build({ ...common, entryPoints: ['examples/self-hosting/app.ts'], outfile: 'dist/self-hosting/app.js' }),
  // test and bench pages only: stock js-libp2p (no Membrane, no init-channel guard) and the page harness
  build({ ...common, entryPoints: ['test/browser/pages/stock.ts'], outfile: 'dist/browser/stock.js' }),
  build({ ...common, entryPoints: ['test/browser/pages/harness.ts'], outfile: 'dist/browser/harness.js', external: ['/membrane.js', '/stock.js'] })
])
// what went into the shipped bundles, checked by test/browser/bundle.spec.ts (no Node built-ins)
await writeFile('dist/browser/membrane.meta.json', JSON.stringify(library.metafile))
await writeFile('dist/dapp/app.meta.json', JSON.stringify(dapp.metafile))
await writeFile('dist/self-hosting/app.meta.json', JSON.stringify(selfHosting.metafile))
