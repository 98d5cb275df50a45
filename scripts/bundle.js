// Bundle the browser build of the library and the example dapp with esbuild
import { build } from 'esbuild'

const common = {
  bundle: true,
  format: 'esm',
  platform: 'browser',
  target: 'es2022',
  conditions: ['browser'],
  sourcemap: true,
  logLevel: 'warning',
  // libp2p code probes for these Node built-ins but never needs them in a browser
  define: { 'process.env.NODE_DEBUG': 'undefined' }
}

await Promise.all([
  build({ ...common, entryPoints: ['src/index.browser.ts'], outfile: 'dist/browser/membrane.js' }),
  build({ ...common, entryPoints: ['examples/dapp/app.ts'], outfile: 'dist/dapp/app.js' })
])
