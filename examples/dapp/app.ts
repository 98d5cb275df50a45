// The example dapp: joins the mesh through the bootstrap peer that served the page;
// chat over broadcast, direct messages to a chosen peer, and a live network map (cytoscape).
// People are named by the alias in their map record (yours is kept in localStorage).
import cytoscape from 'cytoscape'
import { createMembrane } from '../../src/index.browser.js'
import type { BootstrapErrorDetail, BroadcastMessage, LinkKind, Membrane, MapEdge, MapNode } from '../../src/index.browser.js'

const TOPIC = 'membrane-chat'
/** Where this browser keeps the name it publishes in its map record */
const ALIAS_KEY = 'membrane-dapp-alias'
const MAX_ALIAS = 32
const $ = <T extends HTMLElement>(id: string): T => document.getElementById(id) as T
const statusEl = $('status')
const messagesEl = $<HTMLOListElement>('messages')
const input = $<HTMLInputElement>('message')
const target = $<HTMLSelectElement>('target')

function setStatus (text: string, error = false): void {
  statusEl.textContent = text
  statusEl.classList.toggle('error', error)
}

const short = (id: string): string => `…${id.slice(-6)}`

/** A peer's name: the alias its map record carries, else the end of its id */
let nameOf = (id: string): string => short(id)

/** One line in the chat: `own` for what you sent, `direct` for a direct message to you, `info` for notices */
function show (from: string, text: string, kind: 'broadcast' | 'direct' | 'own' | 'info' = 'broadcast'): void {
  const li = document.createElement('li')
  li.className = kind
  const who = document.createElement('span')
  who.className = 'from'
  who.textContent = kind === 'own' ? 'you' : kind === 'direct' ? `${nameOf(from)} → you` : kind === 'info' ? '' : nameOf(from)
  li.append(who, document.createTextNode(text))
  messagesEl.append(li)
  messagesEl.scrollTop = messagesEl.scrollHeight
}
const EDGE_STYLE: Record<LinkKind, { color: string, style: 'solid' | 'dashed' | 'dotted' }> = {
  direct: { color: '#2e7d32', style: 'solid' },
  webrtc: { color: '#2e7d32', style: 'solid' },
  relay: { color: '#ef6c00', style: 'dashed' },
  circuit: { color: '#6a1b9a', style: 'dotted' }
}

/** Draws the network map and keeps it in step with the map service's events */
function drawMap (node: Membrane): void {
  const self = node.peerId.toString()
  const map = node.services.networkMap
  const cy = cytoscape({
    container: $('map'),
    userZoomingEnabled: false,
    boxSelectionEnabled: false,
    style: [
      { selector: 'node', style: { label: 'data(label)', 'font-size': 10, 'background-color': '#1565c0', width: 18, height: 18, 'text-valign': 'bottom', 'text-margin-y': 3 } },
      { selector: 'node.bootstrap', style: { shape: 'round-rectangle', 'background-color': '#546e7a' } },
      { selector: 'node.self', style: { 'background-color': '#d81b60', width: 26, height: 26, 'border-width': 3, 'border-color': '#f8bbd0', 'font-weight': 'bold' } },
      { selector: 'edge', style: { width: 2, 'line-color': 'data(color)', 'line-style': 'data(style)' as 'solid', 'curve-style': 'straight' } }
    ]
  })
  const nodeData = (n: MapNode): cytoscape.ElementDefinition => ({
    group: 'nodes',
    data: { id: n.id.toString(), label: n.id.toString() === self ? `you${n.alias != null ? ` (${n.alias})` : ''}` : (n.alias ?? short(n.id.toString())) },
    classes: [n.id.toString() === self ? 'self' : '', n.roles.includes('bootstrap') ? 'bootstrap' : ''].join(' ')
  })
  const edgeId = (e: MapEdge): string => `${e.from.toString()}|${e.to.toString()}`
  const edgeData = (e: MapEdge): cytoscape.ElementDefinition => ({
    group: 'edges',
    data: { id: edgeId(e), source: e.from.toString(), target: e.to.toString(), kind: e.kind, ...EDGE_STYLE[e.kind] }
  })
  let pending: ReturnType<typeof setTimeout> | undefined
  const relayout = (): void => {
    clearTimeout(pending)
    pending = setTimeout(() => {
      cy.layout({ name: 'cose', animate: false, nodeDimensionsIncludeLabels: true, padding: 20 }).run()
      cy.fit(undefined, 20)
      $('map').dataset.nodes = String(cy.nodes().length)
      $('map').dataset.edges = String(cy.edges().length)
      $('map-summary').textContent = `${cy.nodes().length} nodes · ${cy.edges().length} links`
      updateTargets(node)
    }, 100)
  }
  const sync = (): void => {
    cy.elements().remove()
    cy.add(map.nodes().map(nodeData))
    cy.add(map.edges().filter(e => cy.getElementById(e.from.toString()).nonempty() && cy.getElementById(e.to.toString()).nonempty()).map(edgeData))
    relayout()
  }
  map.addEventListener('node:add', (evt) => { if (cy.getElementById(evt.detail.id.toString()).empty()) { cy.add(nodeData(evt.detail)) } relayout() })
  map.addEventListener('node:update', (evt) => { cy.getElementById(evt.detail.id.toString()).data(nodeData(evt.detail).data) })
  map.addEventListener('node:remove', (evt) => { cy.getElementById(evt.detail.id.toString()).remove(); relayout() })
  // a relayed link that became WebRTC keeps its edge: redraw it in its new kind
  map.addEventListener('edge:update', (evt) => { cy.getElementById(edgeId(evt.detail)).data(edgeData(evt.detail).data) })
  map.addEventListener('edge:add', (evt) => {
    const e = evt.detail
    if (cy.getElementById(edgeId(e)).empty() && cy.getElementById(e.from.toString()).nonempty() && cy.getElementById(e.to.toString()).nonempty()) {
      cy.add(edgeData(e))
    } else {
      sync()
    }
    relayout()
  })
  // a link that changed kind (e.g. relayed → direct WebRTC) or RTT is redrawn in place
  map.addEventListener('edge:update', (evt) => {
    const edge = cy.getElementById(edgeId(evt.detail))
    if (edge.nonempty()) {
      edge.data(edgeData(evt.detail).data)
      $('map').dataset.updates = String(Number($('map').dataset.updates ?? '0') + 1)
    }
  })
  map.addEventListener('edge:remove', (evt) => { cy.getElementById(edgeId(evt.detail)).remove(); relayout() })
  // keep the whole map in view when the screen turns or resizes
  cy.on('resize', () => { cy.fit(undefined, 20) })
  cy.on('tap', 'node', (evt) => {
    const id = evt.target.id() as string
    if (id !== self) { target.value = id }
  })
  sync()
}

/** The peers a direct message can go to: every other node on the map */
function updateTargets (node: Membrane): void {
  const self = node.peerId.toString()
  const chosen = target.value
  const ids = node.services.networkMap.nodes().map(n => n.id.toString()).filter(id => id !== self)
  target.replaceChildren(new Option('everyone (broadcast)', ''), ...ids.map(id => new Option(`direct to ${nameOf(id)}`, id)))
  target.value = ids.includes(chosen) ? chosen : ''
}

/** The saved alias, if it is one a map record may carry */
function savedAlias (): string | undefined {
  const alias = localStorage.getItem(ALIAS_KEY)?.trim()
  return alias == null || alias === '' ? undefined : alias.slice(0, MAX_ALIAS)
}

async function main (): Promise<void> {
  const config = await (await fetch('config.json')).json() as { bootstrap: string[], allowLocalDial?: boolean }
  // `?bootstrap=<multiaddr>` overrides the served config (tests and trying other networks)
  const override = new URLSearchParams(location.search).getAll('bootstrap')
  const alias = savedAlias()
  const node = await createMembrane({
    bootstrap: override.length > 0 ? override : config.bootstrap,
    allowLocalDial: config.allowLocalDial === true,
    webrtc: { rtcConfiguration: { iceServers: [] } },
    networkMap: { alias }
  })
  Object.assign(globalThis, { membrane: node })
  const self = node.peerId.toString()
  const map = node.services.networkMap
  const peerIdOf = (id: string): Membrane['peerId'] | undefined => map.nodes().find(n => n.id.toString() === id)?.id
  nameOf = (id) => {
    const peer = peerIdOf(id)
    return (peer == null ? undefined : map.get(peer)?.alias) ?? short(id)
  }
  $('self').textContent = self

  // your name: published in your map record; a change takes effect on reload (a record is signed at start)
  const aliasInput = $<HTMLInputElement>('alias')
  aliasInput.value = alias ?? ''
  $('alias-form').addEventListener('submit', (evt) => {
    evt.preventDefault()
    localStorage.setItem(ALIAS_KEY, aliasInput.value.trim().slice(0, MAX_ALIAS))
    location.reload()
  })

  const isBootstrap = (id: string): boolean => {
    const record = map.nodes().find(n => n.id.toString() === id)
    return record?.roles.includes('bootstrap') === true || (override.length > 0 ? override : config.bootstrap).some(a => a.endsWith(`/p2p/${id}`))
  }

  // the status says what works, not that a socket is open: the map links this page to someone
  // (both ends' signed records agree) and gossip has a peer in the chat topic's mesh
  const contact = node.services.firstContact
  const pubsub = node.services.pubsub
  let lastError: BootstrapErrorDetail | undefined = contact.lastError
  const updateStatus = (): void => {
    const links = map.edges().filter(e => e.from.toString() === self || e.to.toString() === self)
      .map(e => ({ peer: e.from.toString() === self ? e.to.toString() : e.from.toString(), kind: e.kind }))
    // WebRTC, or TCP/WebSockets between dialable ends: no relay in between
    const direct = links.filter(l => !isBootstrap(l.peer) && (l.kind === 'direct' || l.kind === 'webrtc')).length
    const members = links.filter(l => !isBootstrap(l.peer)).length
    const mapWorks = links.length > 0
    const gossipWorks = node.services.broadcast.meshPeers(TOPIC).length > 0
    statusEl.dataset.map = String(mapWorks)
    statusEl.dataset.gossip = String(gossipWorks)
    if (mapWorks && gossipWorks) {
      if (direct > 0) {
        setStatus(`linked to ${direct} member${direct === 1 ? '' : 's'} directly`)
      } else if (members > 0) {
        setStatus(`linked to ${members} member${members === 1 ? '' : 's'} through relays`)
      } else {
        setStatus('through the bootstrap peer only')
      }
    } else if (mapWorks || gossipWorks || node.getConnections().length > 0) {
      // connected, but not everything works yet (or a connection negotiated nothing: first contact closes it and says so)
      const missing = [gossipWorks ? '' : 'no chat peer yet', mapWorks ? '' : 'not on the map yet'].filter(m => m !== '').join(', ')
      const why = lastError == null ? '' : ` (${lastError.error.message})`
      setStatus(`joining — ${missing}${why}`, lastError != null)
    } else if (lastError != null) {
      setStatus(`offline — cannot reach the network: ${lastError.error.message}${lastError.retryIn == null ? '' : ` — retrying in ${Math.round(lastError.retryIn / 1000)} s`}`, true)
    } else {
      setStatus('offline')
    }
  }
  contact.addEventListener('bootstrap:error', (evt) => { lastError = evt.detail; updateStatus() })
  contact.addEventListener('bootstrap:connect', () => { lastError = undefined; updateStatus() })
  for (const event of ['edge:add', 'edge:update', 'edge:remove', 'node:add', 'node:update', 'node:remove'] as const) {
    map.addEventListener(event, updateStatus)
  }
  for (const event of ['gossipsub:graft', 'gossipsub:prune', 'subscription-change'] as const) {
    pubsub.addEventListener(event, updateStatus)
  }
  node.addEventListener('connection:open', updateStatus)
  updateStatus()

  // peers you are connected to, bootstrap peers not counted
  const peerCount = $('peer-count')
  const updatePeers = (): void => { peerCount.textContent = String(node.getPeers().filter(p => !isBootstrap(p.toString())).length) }
  node.addEventListener('peer:connect', updatePeers)
  node.addEventListener('peer:disconnect', () => { updatePeers(); updateStatus() })
  map.addEventListener('node:update', updatePeers)

  // who joined and left your neighbourhood (links both ends' map records confirm)
  node.services.topology.addEventListener('peer:join', (evt) => {
    if (!evt.detail.bootstrap) { show(evt.detail.id.toString(), `${nameOf(evt.detail.id.toString())} joined`, 'info') }
  })
  node.services.topology.addEventListener('peer:leave', (evt) => {
    if (!evt.detail.bootstrap) { show(evt.detail.id.toString(), `${nameOf(evt.detail.id.toString())} left`, 'info') }
  })

  node.services.broadcast.subscribe(TOPIC, (msg: BroadcastMessage) => {
    show(msg.from.toString(), new TextDecoder().decode(msg.data))
  })
  node.services.directMessages.addEventListener('message', (evt) => {
    show(evt.detail.from.toString(), new TextDecoder().decode(evt.detail.data), 'direct')
  })
  $('send-form').addEventListener('submit', (evt) => {
    evt.preventDefault()
    const text = input.value.trim()
    if (text === '') {
      return
    }
    const to = target.value
    const peer = peerIdOf(to)
    const sent = to === '' || peer == null
      ? node.services.broadcast.publish(TOPIC, new TextEncoder().encode(text)).then(() => { show(self, text, 'own') })
      : node.services.directMessages.send(peer, new TextEncoder().encode(text)).then(() => {
        show(self, `(to ${nameOf(to)}) ${text}`, 'own')
        // a direct message is one message: the next goes to everyone again
        target.value = ''
      })
    sent.then(() => { input.value = '' }, (err: Error) => { setStatus(`not sent: ${err.message}`, true) })
  })
  drawMap(node)
}

main().catch((err: Error) => { setStatus(`failed to start: ${err.message}`, true) })
