import { createServer } from 'node:http'
import { listenHttp } from './http.js'
import type { BootstrapPeer } from './index.js'
import type { Server } from 'node:http'
import type { Registry } from 'prom-client'

export interface ServeOpsOptions {
  /** @default '127.0.0.1' */
  host?: string
  /** 0 picks a free port */
  port: number
  /** The registry given to `createBootstrapPeer({ metricsRegistry })` */
  registry: Registry
}

export interface OpsServer {
  server: Server
  url: string
  close(): Promise<void>
}

/**
 * Serve `/metrics` (Prometheus text format: libp2p's metrics and Membrane's
 * `membrane_*`) and `/health` (JSON; 200 while started, 503 otherwise).
 *
 * @example
 * ```ts
 * const registry = new Registry()
 * const peer = await createBootstrapPeer({ metricsRegistry: registry })
 * const ops = await serveOps(peer, { port: 9100, registry })
 * ```
 */
export async function serveOps (peer: BootstrapPeer, options: ServeOpsOptions): Promise<OpsServer> {
  const host = options.host ?? '127.0.0.1'
  const started = Date.now()
  const server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname
    if (req.method !== 'GET') {
      res.writeHead(405).end()
      return
    }
    if (path === '/metrics') {
      options.registry.metrics().then((body) => {
        res.writeHead(200, { 'content-type': options.registry.contentType }).end(body)
      }, (err: Error) => {
        res.writeHead(500, { 'content-type': 'text/plain' }).end(`metrics failed: ${err.message}\n`)
      })
      return
    }
    if (path === '/health') {
      const ok = peer.status === 'started'
      const body = {
        status: ok ? 'ok' : peer.status,
        peerId: peer.peerId.toString(),
        uptimeSeconds: Math.round((Date.now() - started) / 1000),
        connections: peer.getConnections().length,
        load: peer.services.loadMonitor.figures(),
        admission: peer.services.admission.stats(),
        addresses: peer.getMultiaddrs().map(String)
      }
      res.writeHead(ok ? 200 : 503, { 'content-type': 'application/json' }).end(JSON.stringify(body))
      return
    }
    res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n')
  })
  const url = await listenHttp(server, host, options.port, 'metrics')
  return {
    server,
    url,
    close: async () => {
      server.closeAllConnections()
      await new Promise<void>(resolve => { server.close(() => { resolve() }) })
    }
  }
}
