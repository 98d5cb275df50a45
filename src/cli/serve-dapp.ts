import { readFile } from 'node:fs/promises'
import { createServer } from 'node:http'
import { fileURLToPath } from 'node:url'
import { listenHttp } from '../bootstrap/http.js'
import type { Libp2p } from '@libp2p/interface'
import type { Server } from 'node:http'

// dist/src/cli → package root
const ROOT = new URL('../../../', import.meta.url)

/** The example pages' files (scripts/bundle.js writes them to dist/dapp and dist/self-hosting), by URL path */
const FILES: Record<string, { file: URL, type: string }> = {
  '/': { file: new URL('dist/dapp/index.html', ROOT), type: 'text/html; charset=utf-8' },
  '/index.html': { file: new URL('dist/dapp/index.html', ROOT), type: 'text/html; charset=utf-8' },
  '/style.css': { file: new URL('dist/dapp/style.css', ROOT), type: 'text/css; charset=utf-8' },
  '/app.js': { file: new URL('dist/dapp/app.js', ROOT), type: 'text/javascript; charset=utf-8' },
  // the self-hosting demo (examples/self-hosting), linked from the chat page
  '/self-hosting/': { file: new URL('dist/self-hosting/index.html', ROOT), type: 'text/html; charset=utf-8' },
  '/self-hosting/index.html': { file: new URL('dist/self-hosting/index.html', ROOT), type: 'text/html; charset=utf-8' },
  '/self-hosting/style.css': { file: new URL('dist/self-hosting/style.css', ROOT), type: 'text/css; charset=utf-8' },
  '/self-hosting/app.js': { file: new URL('dist/self-hosting/app.js', ROOT), type: 'text/javascript; charset=utf-8' }
}

export interface ServeDappOptions {
  host?: string
  port?: number
}

/**
 * Serve the example dapp and a `/config.json` naming the bootstrap peer's
 * WebSockets addresses, so the page needs no configuration.
 */
export async function serveDapp (peer: Libp2p, options: ServeDappOptions = {}): Promise<{ server: Server, url: string }> {
  const host = options.host ?? '127.0.0.1'
  const server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405).end()
      return
    }
    if (path === '/config.json') {
      const bootstrap = peer.getMultiaddrs().map(String).filter(a => a.includes('/ws/'))
      res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' })
      res.end(JSON.stringify({ bootstrap, allowLocalDial: true }))
      return
    }
    if (path === '/favicon.ico') {
      res.writeHead(204).end()
      return
    }
    if (path === '/self-hosting') {
      res.writeHead(301, { location: '/self-hosting/' }).end()
      return
    }
    const entry = FILES[path]
    if (entry == null) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n')
      return
    }
    readFile(fileURLToPath(entry.file)).then((body) => {
      res.writeHead(200, { 'content-type': entry.type, 'cache-control': 'no-store' })
      res.end(body)
    }, () => {
      res.writeHead(500, { 'content-type': 'text/plain' }).end('dapp not built: run npm run build\n')
    })
  })
  const url = await listenHttp(server, host, options.port ?? 8080, 'the dapp')
  return { server, url: `${url}/` }
}
