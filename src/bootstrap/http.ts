import { ListenError } from './errors.js'
import type { Server } from 'node:http'

/**
 * Start `server` on `host:port` (0 picks a free port) and return its base URL
 * (`http://host:port`, IPv6 in brackets). A failure to listen is a
 * `ListenError` naming `purpose`, so the CLI can print it in one line.
 */
export async function listenHttp (server: Server, host: string, port: number, purpose: string): Promise<string> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) => {
      reject(new ListenError(`cannot serve ${purpose} on ${host}:${port}: ${err.code === 'EADDRINUSE' ? 'address already in use' : err.message}`))
    })
    server.listen(port, host, () => { resolve() })
  })
  const address = server.address()
  const bound = typeof address === 'object' && address != null ? address.port : port
  return `http://${host.includes(':') ? `[${host}]` : host}:${bound}`
}
