/**
 * Where a process's resident memory is, from `/proc/self/smaps` (Linux only):
 * glibc's malloc arenas (the brk `[heap]` and the 64 MiB-aligned regions of
 * the other arenas), other anonymous mappings (V8's heap pages, mmap'd large
 * allocations, thread stacks) and file-backed pages (the node binary, libraries).
 * For `fuzz/memory.ts`, to see what holds RSS outside the V8 heap (issue 16.4).
 */
import { readFileSync } from 'node:fs'

export interface ResidentBreakdown {
  /** Rss of the main malloc arena (`[heap]`, brk) */
  brkKb: number
  /** Rss of the other malloc arenas (64 MiB-aligned anonymous regions of 64 MiB reserved) */
  arenasKb: number
  arenaCount: number
  /** Rss of every other anonymous mapping */
  otherAnonKb: number
  /** Rss of file-backed mappings */
  fileKb: number
  /** Pages freed with MADV_FREE: still counted in RSS until the kernel needs the memory */
  lazyFreeKb: number
}

const ARENA = 64 * 1024 * 1024

export function residentBreakdown (): ResidentBreakdown | undefined {
  let text: string
  try {
    text = readFileSync('/proc/self/smaps', 'utf8')
  } catch {
    return undefined
  }
  interface Mapping { start: bigint, end: bigint, perms: string, name: string, rss: number }
  const maps: Mapping[] = []
  let lazyFree = 0
  let current: Mapping | undefined
  for (const line of text.split('\n')) {
    const header = /^([0-9a-f]+)-([0-9a-f]+) (\S+) \S+ \S+ \S+\s*(.*)$/.exec(line)
    if (header != null) {
      current = { start: BigInt(`0x${header[1]}`), end: BigInt(`0x${header[2]}`), perms: header[3], name: header[4], rss: 0 }
      maps.push(current)
      continue
    }
    const lazy = /^LazyFree:\s+(\d+) kB/.exec(line)
    if (lazy != null) {
      lazyFree += Number(lazy[1])
    }
    const rss = /^Rss:\s+(\d+) kB/.exec(line)
    if (rss != null && current != null) {
      current.rss = Number(rss[1])
    }
  }
  const out: ResidentBreakdown = { brkKb: 0, arenasKb: 0, arenaCount: 0, otherAnonKb: 0, fileKb: 0, lazyFreeKb: lazyFree }
  for (let i = 0; i < maps.length; i++) {
    const m = maps[i]
    if (m.name === '[heap]') {
      out.brkKb += m.rss
    } else if (m.name !== '' && !m.name.startsWith('[')) {
      out.fileKb += m.rss
    } else if (m.name === '' && m.start % BigInt(ARENA) === 0n && m.perms.startsWith('rw')) {
      // an arena: its used part, then (usually) the rest of its 64 MiB reserved ---p
      const next = maps[i + 1]
      const reserved = next != null && next.name === '' && next.perms.startsWith('---') && next.start === m.end ? next.end : m.end
      if (reserved - m.start === BigInt(ARENA)) {
        out.arenasKb += m.rss
        out.arenaCount++
      } else {
        out.otherAnonKb += m.rss
      }
    } else {
      out.otherAnonKb += m.rss
    }
  }
  return out
}
