/**
 * A member that churns on purpose must not make the others thrash (issue 13,
 * "Bad input and limits"): one member connects to a member and disconnects
 * every 200 ms for 20 s while the others broadcast. Throughout, every other
 * member's degree (its member links, the churner's not counted) stays within
 * the topology's bounds, no member holds more than one link beyond
 * `maxPeers` (the churner's), and every broadcast reaches every other member.
 * Degrees are sampled on every connection and topology event of every member.
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { multiaddr } from '@multiformats/multiaddr'
import { meshProblems, startMesh } from './fixtures/mesh.js'
import { startMember, stopAll, tcpAddress } from './fixtures/nodes.js'
import { delay, waitFor } from './fixtures/wait.js'
import type { Mesh } from './fixtures/mesh.js'
import type { Membrane } from '../src/index.js'

const SIZE = 8
const MIN_PEERS = 3
const MAX_PEERS = 6
const TOPIC = 'topology-churn'
/** One connect-or-disconnect step of the churner, and the bounds of its loop */
const CHURN_STEP = 200
const CHURN_DURATION = 20_000
const MAX_CHURN_CYCLES = 100
/** The others publish one message each this often during the churn */
const PUBLISH_EVERY = 500
/** Generous bounds for a loaded 2-core machine */
const SETTLE_BOUND = 120_000
const DELIVERY_BOUND = 60_000

describe(`topology: one member churning every ${CHURN_STEP} ms beside ${SIZE} members`, () => {
  let mesh: Mesh
  let churner: Membrane
  const violations: string[] = []
  let maxWithChurner = 0

  before(async () => {
    mesh = await startMesh({ size: SIZE, minPeers: MIN_PEERS, maxPeers: MAX_PEERS, topic: TOPIC })
    // the churner makes no links of its own: the test loop connects and disconnects it
    churner = await startMember(undefined, { topology: { enabled: false }, topics: [TOPIC] })
  })

  after(async () => {
    await stopAll(churner)
    await mesh?.stop()
  })

  it('the others keep their degrees within bounds and receive every broadcast', async () => {
    const nodes = mesh.members.map(m => m.node)
    let last: string[] = []
    await waitFor(() => {
      last = meshProblems(nodes, mesh.bootstrap, MIN_PEERS, MAX_PEERS)
      return last.length === 0
    }, 'the mesh settles', SETTLE_BOUND, 250).catch((err: Error) => {
      throw new Error(`${err.message}; problems: ${last.join('; ')}`)
    })

    // degrees, sampled whenever a member's links or topology change
    const churnerKey = churner.peerId.toString()
    let sampling = true
    const sample = (node: Membrane, why: string): void => {
      if (!sampling) { return }
      const neighbours = node.services.topology.neighbours().map(String)
      const members = neighbours.filter(k => k !== churnerKey).length
      maxWithChurner = Math.max(maxWithChurner, neighbours.length)
      if (members < MIN_PEERS || members > MAX_PEERS) {
        violations.push(`${node.peerId.toString().slice(-6)} at ${members} member links (${why})`)
      }
      if (neighbours.length > MAX_PEERS + 1) {
        violations.push(`${node.peerId.toString().slice(-6)} at ${neighbours.length} links with the churner's (${why})`)
      }
    }
    const listeners = nodes.map(node => {
      const onConnection = (): void => { sample(node, 'connection') }
      const onAction = (evt: CustomEvent<{ action: string }>): void => { sample(node, evt.detail.action) }
      node.addEventListener('connection:open', onConnection)
      node.addEventListener('connection:close', onConnection)
      node.services.topology.addEventListener('action', onAction)
      node.services.networkMap.addEventListener('edge:remove', onConnection)
      return () => {
        node.removeEventListener('connection:open', onConnection)
        node.removeEventListener('connection:close', onConnection)
        node.services.topology.removeEventListener('action', onAction)
        node.services.networkMap.removeEventListener('edge:remove', onConnection)
      }
    })

    // every message each member receives, by text
    const inboxes = nodes.map(() => new Set<string>())
    const unsubscribes = nodes.map((node, i) => node.services.broadcast.subscribe(TOPIC, (msg) => { inboxes[i].add(new TextDecoder().decode(msg.data)) }))
    const published: Array<{ from: number, text: string }> = []

    const trimmedBefore = nodes.reduce((sum, n) => sum + n.services.topology.stats().trimmed, 0)
    const started = Date.now()
    let cycles = 0
    let publishes = 0
    let nextPublish = started
    let failedDials = 0
    try {
      while (Date.now() - started < CHURN_DURATION && cycles < MAX_CHURN_CYCLES) {
        const target = nodes[cycles % nodes.length]
        cycles++
        // connect …
        await churner.dial(multiaddr(tcpAddress(target)), { signal: AbortSignal.timeout(5_000) }).catch(() => { failedDials++ })
        await delay(CHURN_STEP)
        // … and disconnect
        await churner.hangUp(target.peerId).catch(() => {})
        if (Date.now() >= nextPublish) {
          const from = publishes % nodes.length
          const text = `churn ${publishes++}`
          await nodes[from].services.broadcast.publish(TOPIC, new TextEncoder().encode(text), { allowNoSubscribers: true })
          inboxes[from].add(text)
          published.push({ from, text })
          nextPublish += PUBLISH_EVERY
        }
        for (const node of nodes) { sample(node, 'churn step') }
        await delay(CHURN_STEP)
      }
      // every broadcast reaches every other member (gossip repairs within its heartbeats)
      await waitFor(() => published.every(p => inboxes.every(inbox => inbox.has(p.text))), 'every broadcast reached every member', DELIVERY_BOUND, 250).catch((err: Error) => {
        const missing = published.filter(p => !inboxes.every(inbox => inbox.has(p.text))).map(p => `${p.text}: ${inboxes.filter(inbox => !inbox.has(p.text)).length} missing`)
        throw new Error(`${err.message}; ${missing.length} of ${published.length} incomplete: ${missing.slice(0, 5).join(', ')}`)
      })
    } finally {
      sampling = false
      listeners.forEach(remove => { remove() })
      unsubscribes.forEach(unsubscribe => { unsubscribe() })
    }

    assert.ok(cycles >= 10, `the churner connected and disconnected ${cycles} times (${failedDials} dials failed)`)
    assert.ok(published.length >= 10, `${published.length} messages published`)
    assert.ok(maxWithChurner > 0, 'degrees were sampled')
    assert.deepEqual(violations.slice(0, 10), [], `degrees left the bounds ${violations.length} times`)
    const delivered = published.reduce((sum, p) => sum + inboxes.filter(inbox => inbox.has(p.text)).length, 0)
    assert.equal(delivered, published.length * nodes.length, 'delivery is 100 %')
    const trimmed = nodes.reduce((sum, n) => sum + n.services.topology.stats().trimmed, 0) - trimmedBefore
    assert.ok(trimmed <= 1, `the others trimmed ${trimmed} links because of the churner`)
  })
})
