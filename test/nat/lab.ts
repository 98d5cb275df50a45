/**
 * A NAT lab built from network namespaces and nft NAT, created and torn down
 * by the test. Nothing in it touches the host's namespace: every interface is
 * created directly inside a lab namespace, and the lab's "internet" has a
 * default route into a namespace that drops everything, so no packet leaves.
 *
 * ```
 *   a (10.0.1.2) ── nata (10.0.1.1 | wan 172.31.0.2) ─┐
 *                                                     ├─ inet: bridge 172.31.0.1 (bootstrap, coturn)
 *   b (10.0.2.2) ── natb (10.0.2.1 | wan 172.31.0.3) ─┤
 *                                                     └─ sink 172.31.0.254 (drops everything; the default route)
 * ```
 *
 * `cone`: nft `masquerade` (Linux keeps the source port: endpoint-independent
 * mapping, port-restricted filtering). `symmetric`: `masquerade
 * random,fully-random` (a new random port for every destination).
 */
import { execFile, spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { readdir } from 'node:fs/promises'
import { promisify } from 'node:util'
import type { ChildProcess } from 'node:child_process'

const run = promisify(execFile)

export type NatKind = 'cone' | 'symmetric'

/** Every lab namespace name starts with this, then the owning test process's pid */
const PREFIX = 'mbnat'

export const INET_HOST = '172.31.0.1'
export const SINK_HOST = '172.31.0.254'
export const SIDES = {
  a: { wan: '172.31.0.2', lan: '10.0.1.1', host: '10.0.1.2' },
  b: { wan: '172.31.0.3', lan: '10.0.2.1', host: '10.0.2.2' }
} as const
export type Side = keyof typeof SIDES

export interface LabNamespaces {
  inet: string
  sink: string
  nata: string
  natb: string
  a: string
  b: string
}

export interface Lab {
  ns: LabNamespaces
  /** Set the NAT in front of side `a` or `b` */
  setNat(side: Side, kind: NatKind): Promise<void>
  /** Start a process in a namespace; it is killed (by PID) when the lab closes */
  spawn(ns: string, command: string, args: string[], env?: Record<string, string>): ChildProcess
  /** Stop every process started in the lab (by PID) and delete the namespaces */
  close(): Promise<void>
}

async function sh (command: string, args: string[], input?: string): Promise<void> {
  if (input == null) {
    await run(command, args)
    return
  }
  await new Promise<void>((resolve, reject) => {
    const child = execFile(command, args, (err) => { if (err == null) { resolve() } else { reject(err) } })
    child.stdin?.end(input)
  })
}

/** What the lab needs; throws (so the suite fails, never skips) when something is missing */
export function checkLabRequirements (): void {
  if (process.getuid?.() !== 0) {
    throw new Error('the NAT lab needs root (network namespaces and nft)')
  }
  for (const [tool, pkg] of [['/usr/sbin/ip', 'iproute2'], ['/usr/sbin/nft', 'nftables'], ['/usr/bin/turnserver', 'coturn']]) {
    if (!existsSync(tool)) {
      throw new Error(`the NAT lab needs ${tool}: apt-get install -y ${pkg}`)
    }
  }
}

function alive (pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

/** PIDs of the processes inside a namespace */
async function pidsIn (ns: string): Promise<number[]> {
  try {
    const { stdout } = await run('ip', ['netns', 'pids', ns])
    return stdout.split('\n').filter(l => l.trim() !== '').map(Number)
  } catch {
    return []
  }
}

async function deleteNamespace (ns: string): Promise<void> {
  for (const pid of await pidsIn(ns)) {
    try { process.kill(pid, 'SIGKILL') } catch {}
  }
  await run('ip', ['netns', 'delete', ns]).catch(() => {})
}

/** Remove namespaces (and their processes) left by lab runs whose test process is gone */
export async function cleanLeftovers (): Promise<void> {
  const names = await readdir('/run/netns').catch(() => [] as string[])
  for (const name of names) {
    const match = new RegExp(`^${PREFIX}-(\\d+)-`).exec(name)
    if (match != null && !alive(Number(match[1]))) {
      await deleteNamespace(name)
    }
  }
}

let labs = 0

function natRules (kind: NatKind): string {
  const flags = kind === 'symmetric' ? ' random,fully-random' : ''
  // A home router's firewall: nothing unsolicited from the wan side. Dropping it in `input` also
  // keeps its conntrack entry unconfirmed; otherwise a hole-punching packet that arrives first
  // takes the tuple, and the reply's masquerade has to pick another port (no longer a cone NAT).
  return `flush ruleset
table inet filter {
  chain input {
    type filter hook input priority 0; policy drop;
    iif "lo" accept
    iifname "lan" accept
    ct state established,related accept
  }
  chain forward {
    type filter hook forward priority 0; policy drop;
    iifname "lan" oifname "wan" accept
    ct state established,related accept
  }
}
table ip nat {
  chain postrouting {
    type nat hook postrouting priority srcnat; policy accept;
    oifname "wan" masquerade${flags}
  }
}
`
}

/** Build the lab with the given NATs in front of `a` and `b` */
export async function createLab (nats: Record<Side, NatKind>): Promise<Lab> {
  checkLabRequirements()
  await cleanLeftovers()
  const id = `${PREFIX}-${process.pid}-${++labs}${Math.random().toString(36).slice(2, 6)}`
  const ns: LabNamespaces = { inet: `${id}-inet`, sink: `${id}-sink`, nata: `${id}-nata`, natb: `${id}-natb`, a: `${id}-a`, b: `${id}-b` }
  const children = new Set<ChildProcess>()
  const ipn = async (name: string, ...args: string[]): Promise<void> => { await sh('ip', ['-n', name, ...args]) }
  const sysctl = async (name: string, setting: string): Promise<void> => { await sh('ip', ['netns', 'exec', name, 'sysctl', '-qw', setting]) }
  /** A veth pair created with each end inside its namespace (never in the host's) */
  const veth = async (nsA: string, ifA: string, nsB: string, ifB: string): Promise<void> => {
    await sh('ip', ['link', 'add', ifA, 'netns', nsA, 'type', 'veth', 'peer', 'name', ifB, 'netns', nsB])
  }

  const lab: Lab = {
    ns,
    async setNat (side, kind) {
      await sh('ip', ['netns', 'exec', side === 'a' ? ns.nata : ns.natb, 'nft', '-f', '-'], natRules(kind))
    },
    spawn (name, command, args, env) {
      const child = spawn('ip', ['netns', 'exec', name, command, ...args], { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, ...env } })
      children.add(child)
      child.once('exit', () => { children.delete(child) })
      return child
    },
    async close () {
      for (const child of children) {
        if (child.pid != null && child.exitCode == null) {
          try { process.kill(child.pid, 'SIGKILL') } catch {}
        }
      }
      await Promise.all([...children].map(async c => new Promise(resolve => {
        if (c.exitCode != null || c.signalCode != null) { resolve(undefined) } else { c.once('exit', resolve) }
      })))
      for (const name of Object.values(ns)) {
        await deleteNamespace(name)
      }
    }
  }

  try {
    for (const name of Object.values(ns)) {
      await sh('ip', ['netns', 'add', name])
      await ipn(name, 'link', 'set', 'lo', 'up')
      // IPv6 link-local candidates would only add noise: nothing in the lab routes IPv6
      await sysctl(name, 'net.ipv6.conf.all.disable_ipv6=1')
    }
    // the internet: a bridge in `inet`, its default route into the sink
    await ipn(ns.inet, 'link', 'add', 'br0', 'type', 'bridge')
    await ipn(ns.inet, 'addr', 'add', `${INET_HOST}/24`, 'dev', 'br0')
    await ipn(ns.inet, 'link', 'set', 'br0', 'up')
    await veth(ns.inet, 'psink', ns.sink, 'wan')
    await ipn(ns.inet, 'link', 'set', 'psink', 'master', 'br0', 'up')
    await ipn(ns.sink, 'addr', 'add', `${SINK_HOST}/24`, 'dev', 'wan')
    await ipn(ns.sink, 'link', 'set', 'wan', 'up')
    await sh('ip', ['netns', 'exec', ns.sink, 'nft', '-f', '-'], `table inet sink {
  chain input { type filter hook input priority 0; policy drop; }
  chain forward { type filter hook forward priority 0; policy drop; }
}
`)
    await ipn(ns.inet, 'route', 'add', 'default', 'via', SINK_HOST)

    for (const side of ['a', 'b'] as const) {
      const nat = side === 'a' ? ns.nata : ns.natb
      const addrs = SIDES[side]
      await veth(ns.inet, `p${side}`, nat, 'wan')
      await ipn(ns.inet, 'link', 'set', `p${side}`, 'master', 'br0', 'up')
      await ipn(nat, 'addr', 'add', `${addrs.wan}/24`, 'dev', 'wan')
      await ipn(nat, 'link', 'set', 'wan', 'up')
      await ipn(nat, 'route', 'add', 'default', 'via', SINK_HOST)
      await veth(nat, 'lan', ns[side], 'eth0')
      await ipn(nat, 'addr', 'add', `${addrs.lan}/24`, 'dev', 'lan')
      await ipn(nat, 'link', 'set', 'lan', 'up')
      await ipn(ns[side], 'addr', 'add', `${addrs.host}/24`, 'dev', 'eth0')
      await ipn(ns[side], 'link', 'set', 'eth0', 'up')
      await ipn(ns[side], 'route', 'add', 'default', 'via', addrs.lan)
      await sysctl(nat, 'net.ipv4.ip_forward=1')
      await lab.setNat(side, nats[side])
    }
  } catch (err) {
    await lab.close()
    throw err
  }
  return lab
}
