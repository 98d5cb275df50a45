// The test suite's system requirements, checked before every `npm test`.
// Idempotent and quick when everything is present (a few file lookups and two
// `--version` calls). Run as root with apt-get available, it installs the
// missing Debian packages itself; otherwise it prints exactly what to install
// and exits 1. A missing requirement is always a failure, never a skip.
//
//   node scripts/setup.js            check, and install with apt when root
//   node scripts/setup.js --check    check only, never install
import { spawnSync } from 'node:child_process'
import { accessSync, constants } from 'node:fs'
import { homedir } from 'node:os'
import { delimiter, join } from 'node:path'

const checkOnly = process.argv.includes('--check')

// non-root PATHs usually lack the sbin directories where nft and ip live
const SEARCH = [...(process.env.PATH ?? '').split(delimiter).filter(d => d !== ''), '/usr/local/sbin', '/usr/sbin', '/sbin']

function executable (path) {
  try {
    accessSync(path, constants.X_OK)
    return true
  } catch {
    return false
  }
}

/** The first executable called `name` on the search path, else one of `fallbacks` */
function find (name, fallbacks = []) {
  for (const path of [...SEARCH.map(dir => join(dir, name)), ...fallbacks]) {
    if (executable(path)) {
      return path
    }
  }
  return undefined
}

/** `major.minor` of the first x.y version number in a command's output, as a number pair */
function version (path, args) {
  const result = spawnSync(path, args, { encoding: 'utf8', timeout: 10_000 })
  const match = /(\d+)\.(\d+)/.exec(`${result.stdout ?? ''} ${result.stderr ?? ''}`)
  return match == null ? undefined : [Number(match[1]), Number(match[2])]
}

const atLeast = (found, wanted) => found != null && (found[0] > wanted[0] || (found[0] === wanted[0] && found[1] >= wanted[1]))

/** Debian packages: installed with apt-get when running as root */
const PACKAGES = [
  { name: 'chromium', apt: 'chromium', why: 'the browser suites (playwright-core drives it)', find: () => process.env.CHROMIUM_PATH != null ? (executable(process.env.CHROMIUM_PATH) ? process.env.CHROMIUM_PATH : undefined) : find('chromium', ['/usr/bin/chromium']) },
  { name: 'openssl', apt: 'openssl', why: 'throwaway certificates for the secure WebSockets tests', find: () => find('openssl') },
  { name: 'nft', apt: 'nftables', why: 'NAT rules inside the NAT lab\'s network namespaces', find: () => find('nft') },
  { name: 'turnserver', apt: 'coturn', why: 'the TURN server of the NAT lab', find: () => find('turnserver') },
  { name: 'ip', apt: 'iproute2', why: 'network namespaces and veth links for the NAT lab', find: () => find('ip') }
]

/** Toolchains for the interop peers: too new for Debian's packages, so never installed here */
const TOOLCHAINS = [
  { name: 'go', minimum: [1, 26], fallbacks: ['/usr/local/go/bin/go'], args: ['version'], install: 'Go ≥ 1.26 from https://go.dev/dl/ (unpacked to /usr/local/go, or on PATH)' },
  { name: 'cargo', minimum: [1, 88], fallbacks: [join(homedir(), '.cargo/bin/cargo')], args: ['--version'], install: 'Rust ≥ 1.88 with rustup (https://rustup.rs; cargo in ~/.cargo/bin or on PATH)' }
]

const missingPackages = () => PACKAGES.filter(p => p.find() == null)

let missing = missingPackages()
const isRoot = process.getuid?.() === 0
const apt = find('apt-get')
if (missing.length > 0 && isRoot && apt != null && !checkOnly) {
  const names = missing.map(p => p.apt)
  console.error(`setup: installing ${names.join(' ')} with apt-get`)
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' }
  const run = (args) => spawnSync(apt, args, { stdio: ['ignore', 'ignore', 'inherit'], env }).status === 0
  if (!run(['update', '-qq']) || !run(['install', '-y', '-qq', ...names])) {
    console.error('setup: apt-get failed (output above)')
  }
  missing = missingPackages()
}

const problems = []
if (missing.length > 0) {
  for (const p of missing) {
    problems.push(`${p.name} not found (Debian package ${p.apt}): ${p.why}`)
  }
  problems.push(`install them with: ${isRoot ? '' : 'sudo '}apt-get install -y ${missing.map(p => p.apt).join(' ')}` +
    (process.env.CHROMIUM_PATH != null && missing.some(p => p.name === 'chromium') ? ` (or fix CHROMIUM_PATH=${process.env.CHROMIUM_PATH})` : ''))
}
for (const tool of TOOLCHAINS) {
  const path = find(tool.name, tool.fallbacks)
  const found = path == null ? undefined : version(path, tool.args)
  if (!atLeast(found, tool.minimum)) {
    problems.push(`${tool.name} ${path == null ? 'not found' : `at ${path} is ${found?.join('.') ?? 'unknown'}`}: the interop suites need ${tool.install}`)
  }
}

if (problems.length > 0) {
  console.error('npm test cannot run on this machine yet:')
  for (const line of problems) {
    console.error(`  - ${line}`)
  }
  process.exit(1)
}
