import { parseArgs } from 'node:util'
import { DEFAULT_HOST, DEFAULT_PORT } from '../bootstrap/constants.js'
import { InvalidBootstrapOptionError } from '../bootstrap/errors.js'
import type { RelayLimits } from '../bootstrap/index.js'

export const USAGE = `Usage: membrane <command> [options]

Commands:
  bootstrap   run a bootstrap peer (first contact, relay, gossipsub router)
  start       run a bootstrap peer and serve the example dapp

Bootstrap options:
  --host <ip>                   IPv4/IPv6 address to listen on (default ${DEFAULT_HOST})
  --port <n>                    TCP port, 0 = any free port (default ${DEFAULT_PORT})
  --ws-port <n>                 WebSockets port (default port + 1, or 0 when port is 0)
  --key-file <path>             persistent identity; created (mode 0600) if missing
  --relay-max-reservations <n>  relay reservations held at once (default 128)
  --relay-duration <ms>         lifetime of one relayed connection (default 120000)
  --relay-data <bytes>          bytes per relayed connection per direction (default 131072)
  --max-topics <n>              topics forwarded on members' behalf (default 1024)

Start options (all of the above, and):
  --http-port <n>               port of the example dapp's web server (default 8080)
  -h, --help                    show this help
`

export interface CliOptions {
  command: 'bootstrap' | 'start' | 'help'
  host?: string
  port?: number
  wsPort?: number
  keyFile?: string
  relay: RelayLimits
  maxTopics?: number
  httpPort: number
}

function integer (name: string, value: string | undefined, min: number, max: number): number | undefined {
  if (value == null) {
    return undefined
  }
  if (!/^\d+$/.test(value) || Number(value) < min || Number(value) > max) {
    throw new InvalidBootstrapOptionError(`--${name} must be an integer from ${min} to ${max}, got "${value}"`)
  }
  return Number(value)
}

/** Parse the command line; throws on anything unknown or malformed */
export function parseCli (argv: string[]): CliOptions {
  let parsed
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      strict: true,
      options: {
        host: { type: 'string' },
        port: { type: 'string' },
        'ws-port': { type: 'string' },
        'key-file': { type: 'string' },
        'relay-max-reservations': { type: 'string' },
        'relay-duration': { type: 'string' },
        'relay-data': { type: 'string' },
        'max-topics': { type: 'string' },
        'http-port': { type: 'string' },
        help: { type: 'boolean', short: 'h' }
      }
    })
  } catch (err) {
    throw new InvalidBootstrapOptionError((err as Error).message)
  }
  const { values, positionals } = parsed
  const command = positionals[0] ?? 'help'
  if (values.help === true || command === 'help') {
    return { command: 'help', relay: {}, httpPort: 8080 }
  }
  if (command !== 'bootstrap' && command !== 'start') {
    throw new InvalidBootstrapOptionError(`unknown command "${command}" (expected "bootstrap" or "start")`)
  }
  if (positionals.length > 1) {
    throw new InvalidBootstrapOptionError(`unexpected argument "${positionals[1]}"`)
  }
  const relayData = integer('relay-data', values['relay-data'], 1, Number.MAX_SAFE_INTEGER)
  return {
    command,
    host: values.host,
    port: integer('port', values.port, 0, 65535),
    wsPort: integer('ws-port', values['ws-port'], 0, 65535),
    keyFile: values['key-file'],
    relay: {
      maxReservations: integer('relay-max-reservations', values['relay-max-reservations'], 1, 100000),
      durationLimit: integer('relay-duration', values['relay-duration'], 1000, 24 * 60 * 60 * 1000),
      dataLimit: relayData == null ? undefined : BigInt(relayData)
    },
    maxTopics: integer('max-topics', values['max-topics'], 0, 100000),
    httpPort: integer('http-port', values['http-port'], 0, 65535) ?? 8080
  }
}
