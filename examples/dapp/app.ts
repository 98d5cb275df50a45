// The example dapp: joins the mesh through the bootstrap peer that served the page;
// chat over broadcast, direct messages to a chosen peer, and a live network map (cytoscape)
import cytoscape from 'cytoscape'
import { createMembrane } from '../../src/index.browser.js'
import type { BootstrapErrorDetail, BroadcastMessage, LinkKind, Membrane, MapEdge, MapNode } from '../../src/index.browser.js'

const TOPIC = 'membrane-chat'
const $ = <T extends HTMLElement>(id: string): T => document.getElementById(id) as T
const statusEl = $('status')
const messagesEl = $<HTMLOListElement>('messages')
const input = $<HTMLInputElement>('message')
const target = $<HTMLSelectElement>('target')

function setStatus (text: string, error = false): void {
  statusEl.textContent = text
  statusEl.classList.toggle('error', error)
}

function show (from: string, text: string, kind: 'broadcast' | 'direct' | 'info' = 'broadcast'): void {
  const li = document.createElement('li')
  li.className = kind
  const who = document.createElement('span')
  who.className = 'from'
  who.textContent = kind === 'direct' ? `${from.slice(-8)} → you` : from.slice(-8)
  li.append(who, document.createTextNode(text))
  messagesEl.append(li)
  messagesEl.scrollTop = messagesEl.scrollHeight
}

const short = (id: string): string => `…${id.slice(-6)}`
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
    data: { id: n.id.toString(), label: n.id.toString() === self ? 'you' : (n.alias ?? short(n.id.toString())) },
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
  target.replaceChildren(new Option('everyone (broadcast)', ''), ...ids.map(id => new Option(`direct to ${short(id)}`, id)))
  target.value = ids.includes(chosen) ? chosen : ''
}

async function main (): Promise<void> {
  const config = await (await fetch('config.json')).json() as { bootstrap: string[], allowLocalDial?: boolean }
  // `?bootstrap=<multiaddr>` overrides the served config (tests and trying other networks)
  const override = new URLSearchParams(location.search).getAll('bootstrap')
  const node = await createMembrane({
    bootstrap: override.length > 0 ? override : config.bootstrap,
    allowLocalDial: config.allowLocalDial === true,
    webrtc: { rtcConfiguration: { iceServers: [] } }
  })
  Object.assign(globalThis, { membrane: node })
  $('self').textContent = node.peerId.toString()
  const contact = node.services.firstContact
  const showError = ({ error, retryIn }: BootstrapErrorDetail): void => {
    setStatus(`cannot reach the network: ${error.message}${retryIn == null ? '' : ` — retrying in ${Math.round(retryIn / 1000)} s`}`, true)
  }
  contact.addEventListener('bootstrap:error', (evt) => { showError(evt.detail) })
  contact.addEventListener('bootstrap:connect', () => { setStatus('connected') })
  if (contact.connected) {
    setStatus('connected')
  } else if (contact.lastError != null) {
    showError(contact.lastError)
  } else {
    setStatus('contacting the bootstrap peer…')
  }
  const peerCount = $('peer-count')
  const updatePeers = (): void => { peerCount.textContent = String(node.getPeers().length) }
  node.addEventListener('peer:connect', updatePeers)
  node.addEventListener('peer:disconnect', updatePeers)

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
    const peer = node.services.networkMap.nodes().find(n => n.id.toString() === to)?.id
    const sent = to === '' || peer == null
      ? node.services.broadcast.publish(TOPIC, new TextEncoder().encode(text)).then(() => { show(node.peerId.toString(), text) })
      : node.services.directMessages.send(peer, new TextEncoder().encode(text)).then(() => { show(node.peerId.toString(), `(to ${short(to)}) ${text}`, 'info') })
    sent.then(() => { input.value = '' }, (err: Error) => { setStatus(`not sent: ${err.message}`, true) })
  })
  drawMap(node)
}

main().catch((err: Error) => { setStatus(`failed to start: ${err.message}`, true) })
