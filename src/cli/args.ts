import { readFileSync } from 'node:fs'
import { parseArgs } from 'node:util'
import { DEFAULT_HOST, DEFAULT_PORT } from '../bootstrap/constants.js'
import { InvalidBootstrapOptionError } from '../bootstrap/errors.js'
import type { RelayLimits } from '../bootstrap/index.js'

export const USAGE = `Usage: membrane <command> [options]

Commands:
  bootstrap   run a bootstrap peer (first contact, relay, gossipsub router)
  start       run a bootstrap peer and serve the example dapp

Bootstrap options (each also read from MEMBRANE_<NAME> in the environment,
e.g. MEMBRANE_WS_PORT, or from a JSON --config file; flags win over the
environment, which wins over the file):
  --host <ip>                   IPv4/IPv6 address to listen on (default ${DEFAULT_HOST})
  --port <n>                    TCP port, 0 = any free port (default ${DEFAULT_PORT})
  --ws-port <n>                 WebSockets port (default port + 1, or 0 when port is 0)
  --webrtc-direct-port <n>      UDP port for WebRTC-direct, so https pages join without a
                                certificate (default: same number as --port; "off" disables)
  --stun-port <n>               UDP port of the STUN binding service members use to find their
                                public address (default 3478, or any free port when --port is 0;
                                "off" disables)
  --turn-url <urls>             coturn run beside this peer (comma-separated turn:/turns: URLs);
                                members get short-lived credentials for it; needs --turn-secret-file
  --turn-secret-file <path>     file holding coturn's static-auth-secret (use-auth-secret)
  --wss-port <n>                secure WebSockets port; needs --tls-cert and --tls-key
  --tls-cert <path>             PEM certificate for secure WebSockets
  --tls-key <path>              PEM private key for secure WebSockets
  --key-file <path>             persistent identity; created (mode 0600) if missing
  --peer <multiaddr>            another bootstrap peer to mesh with (repeatable)
  --relay-max-reservations <n>  relay reservations held at once (default 128)
  --relay-duration <ms>         lifetime of one relayed connection (default 120000)
  --relay-data <bytes>          bytes per relayed connection per direction (default 131072)
  --max-topics <n>              topics forwarded on members' behalf (default 1024)
  --max-connections <n>         connections held at once (default 512)
  --max-connections-per-ip <n>  simultaneous inbound connections from one IP (default 16)
  --load-connections <n>        connections at which proof-of-work admission starts (default 256)
  --metrics-port <n>            serve Prometheus /metrics and /health on this port (default off)
  --log-format <text|json>      log lines as text or JSON (default text)
  --config <path>               JSON file with any of these options

Start options (all of the above, and):
  --http-port <n>               port of the example dapp's web server (default 8080)
  -h, --help                    show this help
`

const STRING_OPTIONS = [
  'host', 'port', 'ws-port', 'webrtc-direct-port', 'stun-port', 'turn-url', 'turn-secret-file', 'wss-port', 'tls-cert', 'tls-key', 'key-file',
  'relay-max-reservations', 'relay-duration', 'relay-data', 'max-topics', 'max-connections',
  'max-connections-per-ip', 'load-connections', 'metrics-port', 'log-format', 'http-port', 'config'
] as const

type OptionName = typeof STRING_OPTIONS[number]

export interface CliOptions {
  /** `none`: no command given (the CLI prints usage and exits 2) */
  command: 'bootstrap' | 'start' | 'help' | 'none'
  host?: string
  port?: number
  wsPort?: number
  webrtcDirectPort?: number | false
  stunPort?: number | false
  /** coturn's URLs, with --turn-secret-file */
  turnUrls?: string[]
  turnSecretFile?: string
  wssPort?: number
  tlsCert?: string
  tlsKey?: string
  keyFile?: string
  peers: string[]
  relay: RelayLimits
  maxTopics?: number
  maxConnections?: number
  maxConnectionsPerIp?: number
  loadConnections?: number
  metricsPort?: number
  logFormat: 'text' | 'json'
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

const camel = (name: string): string => name.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase())
const envName = (name: string): string => `MEMBRANE_${name.toUpperCase().replace(/-/g, '_')}`

/** Read a JSON config file into flag-named string values */
function readConfig (path: string): { values: Partial<Record<OptionName, string>>, peers: string[] } {
  let parsed: unknown
  try {
    parsed = JSON.parse(readFileSync(path, 'utf8'))
  } catch (err) {
    throw new InvalidBootstrapOptionError(`cannot read config file ${path}: ${(err as Error).message}`)
  }
  if (parsed == null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new InvalidBootstrapOptionError(`config file ${path} must hold a JSON object`)
  }
  const values: Partial<Record<OptionName, string>> = {}
  let peers: string[] = []
  for (const [key, value] of Object.entries(parsed)) {
    if (key === 'peer' || key === 'peers') {
      if (!Array.isArray(value) || !value.every(v => typeof v === 'string')) {
        throw new InvalidBootstrapOptionError(`config file ${path}: "${key}" must be an array of multiaddr strings`)
      }
      peers = value
      continue
    }
    const name = STRING_OPTIONS.find(o => o === key || camel(o) === key)
    if (name == null || name === 'config' || name === 'http-port') {
      throw new InvalidBootstrapOptionError(`config file ${path}: unknown option "${key}"`)
    }
    if (typeof value !== 'string' && typeof value !== 'number') {
      throw new InvalidBootstrapOptionError(`config file ${path}: "${key}" must be a string or number`)
    }
    values[name] = String(value)
  }
  return { values, peers }
}

/** Parse the command line, environment and config file; throws on anything unknown or malformed */
export function parseCli (argv: string[], env: Record<string, string | undefined> = process.env): CliOptions {
  let parsed
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      strict: true,
      options: {
        ...Object.fromEntries(STRING_OPTIONS.map(name => [name, { type: 'string' as const }])),
        peer: { type: 'string', multiple: true },
        help: { type: 'boolean', short: 'h' }
      }
    })
  } catch (err) {
    throw new InvalidBootstrapOptionError((err as Error).message)
  }
  const flags = parsed.values as Partial<Record<OptionName, string>> & { peer?: string[], help?: boolean }
  const command = parsed.positionals[0]
  if (flags.help === true || command === 'help' || command == null) {
    return { command: command == null && flags.help !== true ? 'none' : 'help', relay: {}, peers: [], logFormat: 'text', httpPort: 8080 }
  }
  if (command !== 'bootstrap' && command !== 'start') {
    throw new InvalidBootstrapOptionError(`unknown command "${command}" (expected "bootstrap" or "start")`)
  }
  if (parsed.positionals.length > 1) {
    throw new InvalidBootstrapOptionError(`unexpected argument "${parsed.positionals[1]}"`)
  }

  const configPath = flags.config ?? env[envName('config')]
  const config = configPath == null ? { values: {}, peers: [] } : readConfig(configPath)
  const value = (name: OptionName): string | undefined => flags[name] ?? env[envName(name)] ?? config.values[name]
  const envPeers = env.MEMBRANE_PEERS?.split(',').map(p => p.trim()).filter(p => p !== '')
  const peers = flags.peer ?? envPeers ?? config.peers

  const relayData = integer('relay-data', value('relay-data'), 1, Number.MAX_SAFE_INTEGER)
  const webrtcDirect = value('webrtc-direct-port')
  const stun = value('stun-port')
  const logFormat = value('log-format') ?? 'text'
  if (logFormat !== 'text' && logFormat !== 'json') {
    throw new InvalidBootstrapOptionError(`--log-format must be "text" or "json", got "${logFormat}"`)
  }
  const options: CliOptions = {
    command,
    host: value('host'),
    port: integer('port', value('port'), 0, 65535),
    wsPort: integer('ws-port', value('ws-port'), 0, 65535),
    webrtcDirectPort: webrtcDirect === 'off' ? false : integer('webrtc-direct-port', webrtcDirect, 0, 65535),
    stunPort: stun === 'off' ? false : integer('stun-port', stun, 0, 65535),
    turnUrls: value('turn-url')?.split(',').map(u => u.trim()).filter(u => u !== ''),
    turnSecretFile: value('turn-secret-file'),
    wssPort: integer('wss-port', value('wss-port'), 0, 65535),
    tlsCert: value('tls-cert'),
    tlsKey: value('tls-key'),
    keyFile: value('key-file'),
    peers,
    relay: {
      maxReservations: integer('relay-max-reservations', value('relay-max-reservations'), 1, 100000),
      durationLimit: integer('relay-duration', value('relay-duration'), 1000, 24 * 60 * 60 * 1000),
      dataLimit: relayData == null ? undefined : BigInt(relayData)
    },
    maxTopics: integer('max-topics', value('max-topics'), 0, 100000),
    maxConnections: integer('max-connections', value('max-connections'), 1, 1000000),
    maxConnectionsPerIp: integer('max-connections-per-ip', value('max-connections-per-ip'), 1, 1000000),
    loadConnections: integer('load-connections', value('load-connections'), 1, 1000000),
    metricsPort: integer('metrics-port', value('metrics-port'), 0, 65535),
    logFormat,
    httpPort: integer('http-port', flags['http-port'] ?? env[envName('http-port')], 0, 65535) ?? 8080
  }
  if ((options.turnUrls == null) !== (options.turnSecretFile == null)) {
    throw new InvalidBootstrapOptionError('--turn-url and --turn-secret-file go together')
  }
  for (const url of options.turnUrls ?? []) {
    if (!/^turns?:\S+$/.test(url)) {
      throw new InvalidBootstrapOptionError(`--turn-url takes turn: or turns: URLs, got "${url}"`)
    }
  }
  if (options.wssPort != null && (options.tlsCert == null || options.tlsKey == null)) {
    throw new InvalidBootstrapOptionError('--wss-port needs --tls-cert and --tls-key')
  }
  if ((options.tlsCert != null || options.tlsKey != null) && options.wssPort == null) {
    throw new InvalidBootstrapOptionError('--tls-cert and --tls-key need --wss-port')
  }
  return options
}
