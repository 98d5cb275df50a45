// Bundle the browser build of the library and the example dapp with esbuild
import { copyFile, mkdir, readFile, writeFile } from 'node:fs/promises'
import { build } from 'esbuild'

const { version, license } = JSON.parse(await readFile('package.json', 'utf8'))

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
// what a script tag or a CDN serves: minified, named and versioned in its first line
const release = {
  ...common,
  minify: true,
  legalComments: 'none',
  banner: { js: `/*! membrane ${version} | ${license} | https://www.npmjs.com/package/membrane */` }
}

const [library, minified, dapp, selfHosting] = await Promise.all([
  // readable ESM for tests and bundlers that take the file directly
  build({ ...common, entryPoints: ['src/index.browser.ts'], outfile: 'dist/browser/membrane.js' }),
  build({ ...release, entryPoints: ['src/index.browser.ts'], outfile: 'dist/browser/membrane.min.js' }),
  build({ ...release, entryPoints: ['examples/dapp/app.ts'], outfile: 'dist/dapp/app.js' }),
  build({ ...release, entryPoints: ['examples/self-hosting/app.ts'], outfile: 'dist/self-hosting/app.js' }),
  // test and bench pages only: stock js-libp2p (no Membrane, no init-channel guard) and the page harness
  build({ ...common, entryPoints: ['test/browser/pages/stock.ts'], outfile: 'dist/browser/stock.js' }),
  build({ ...common, entryPoints: ['test/browser/pages/harness.ts'], outfile: 'dist/browser/harness.js', external: ['/membrane.js', '/stock.js'] })
])
// the example pages' static files beside their bundles, so dist/dapp and dist/self-hosting are whole sites
for (const site of ['dapp', 'self-hosting']) {
  await mkdir(`dist/${site}`, { recursive: true })
  await Promise.all(['index.html', 'style.css'].map(async (file) => copyFile(`examples/${site}/${file}`, `dist/${site}/${file}`)))
}
// what went into the shipped bundles, checked by test/browser/bundle.spec.ts (no Node built-ins, size budget)
await writeFile('dist/browser/membrane.meta.json', JSON.stringify(library.metafile))
await writeFile('dist/browser/membrane.min.meta.json', JSON.stringify(minified.metafile))
await writeFile('dist/dapp/app.meta.json', JSON.stringify(dapp.metafile))
await writeFile('dist/self-hosting/app.meta.json', JSON.stringify(selfHosting.metafile))
