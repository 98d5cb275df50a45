// The self-hosting demo, as in the original Membrane: peers publish named resources that stay on
// their page; resource lists spread on a typed channel; a reader picks one and fetches it from its
// host, by request when small, by transfer (with a progress bar) when large.
import { ContentHasher, createMembrane } from '../../src/index.browser.js'
import type { Channel, IncomingTransfer, Membrane } from '../../src/index.browser.js'
import type { PeerId } from '@libp2p/interface'

/** The typed channel resource lists spread on */
const CHANNEL = 'self-hosting/resources'
/** Request: a resource name → its bytes (small resources) */
const GET = 'self-hosting/get'
/** Request: a resource name → "sending", after which the host sends it by transfer */
const FETCH = 'self-hosting/fetch'
/** The transfer name large resources arrive under */
const TRANSFER = 'self-hosting/resource'
/** Larger resources go by transfer */
const SMALL = 64 * 1024
/** Each host republishes its list this often, so late joiners see it */
const REPUBLISH = 5000
/** A host not heard from for this long is dropped from the list */
const HOST_TTL = 30_000
const MAX_RESOURCES = 100
/** After the host's "sending", its transfer must begin within this long, or the fetch fails saying so */
const TRANSFER_START_TIMEOUT = 30_000

interface Resource { name: string, size: number, type: string }
interface Listing { resources: Resource[] }

const $ = <T extends HTMLElement>(id: string): T => document.getElementById(id) as T
const short = (id: string): string => `…${id.slice(-6)}`
const hex = (bytes: Uint8Array): string => [...bytes].map(b => b.toString(16).padStart(2, '0')).join('')

function setStatus (text: string, error = false): void {
  $('status').textContent = text
  $('status').classList.toggle('error', error)
}

function validListing (value: Listing): boolean {
  return value != null && Array.isArray(value.resources) && value.resources.length <= MAX_RESOURCES &&
    value.resources.every(r => r != null && typeof r.name === 'string' && r.name.length > 0 && r.name.length <= 200 &&
      Number.isSafeInteger(r.size) && r.size >= 0 && typeof r.type === 'string' && r.type.length <= 100)
}

/** What this page publishes, by name */
const published = new Map<string, Blob>()
/** What other pages publish, by host */
const hosts = new Map<string, { peer: PeerId, resources: Resource[], seen: number }>()
/** Large fetches this page asked for, by `<host>/<name>`: only those transfers are accepted */
const expected = new Map<string, (transfer: IncomingTransfer) => Promise<void>>()

function renderMine (): void {
  $('mine').replaceChildren(...[...published].map(([name, blob]) => {
    const li = document.createElement('li')
    li.dataset.name = name
    li.textContent = `${name} (${blob.size} bytes)`
    return li
  }))
}

/** What the list shows now, so an unchanged list is not redrawn under the reader's pointer */
let shown = ''

function renderResources (fetchOne: (host: PeerId, resource: Resource) => void): void {
  const now = Date.now()
  for (const [id, entry] of hosts) {
    if (now - entry.seen > HOST_TTL) {
      hosts.delete(id)
    }
  }
  const signature = JSON.stringify([...hosts].map(([id, entry]) => [id, entry.resources]))
  if (signature === shown) {
    return
  }
  shown = signature
  const items: HTMLLIElement[] = []
  for (const [id, entry] of hosts) {
    for (const resource of entry.resources) {
      const li = document.createElement('li')
      li.dataset.host = id
      li.dataset.name = resource.name
      const host = document.createElement('span')
      host.className = 'host'
      host.textContent = short(id)
      const button = document.createElement('button')
      button.textContent = 'Fetch'
      button.addEventListener('click', () => { fetchOne(entry.peer, resource) })
      li.append(host, document.createTextNode(` ${resource.name} (${resource.size} bytes) `), button)
      items.push(li)
    }
  }
  $('resources').replaceChildren(...items)
}

/** Show a fetched resource: text inline, anything else as a download */
function showContent (resource: Resource, blob: Blob, how: string): void {
  $('viewer-status').textContent = `${resource.size} bytes ${how}`
  $('viewer').dataset.state = 'done'
  const download = $<HTMLAnchorElement>('download')
  download.href = URL.createObjectURL(blob)
  download.download = resource.name
  download.hidden = false
  if (resource.type.startsWith('text/') || resource.type === '') {
    blob.text().then(text => { $('content').textContent = text.slice(0, 100_000) }, () => {})
  } else {
    $('content').textContent = ''
  }
}

function fetcher (node: Membrane): (host: PeerId, resource: Resource) => void {
  return (host, resource) => {
    $('viewer').hidden = false
    $('viewer').dataset.state = 'fetching'
    $('viewer-name').textContent = `${resource.name} from ${short(host.toString())}`
    $('content').textContent = ''
    $('download').hidden = true
    const progress = $<HTMLProgressElement>('progress')
    progress.value = 0
    $('viewer-status').textContent = 'fetching…'
    const failed = (err: Error): void => {
      $('viewer').dataset.state = 'failed'
      $('viewer-status').textContent = `failed: ${err.name}: ${err.message}`
    }
    if (resource.size <= SMALL) {
      node.services.requests.request(host, GET, new TextEncoder().encode(resource.name), { maxResponseSize: SMALL, timeout: 30_000 }).then((bytes) => {
        progress.value = 1
        showContent(resource, new Blob([bytes as Uint8Array<ArrayBuffer>], { type: resource.type }), 'by request')
      }, failed)
      return
    }
    const key = `${host.toString()}/${resource.name}`
    // the host answers "sending" and then sends; if its send cannot start (no link back to us), only this tells
    let waiting: ReturnType<typeof setTimeout> | undefined
    const receive = async (transfer: IncomingTransfer): Promise<void> => {
      clearTimeout(waiting)
      expected.delete(key)
      const parts: Uint8Array[] = []
      const hasher = new ContentHasher()
      transfer.addEventListener('progress', ({ detail }) => {
        progress.value = detail.bytes / (detail.size ?? resource.size)
        $('viewer-status').textContent = `${detail.bytes} of ${detail.size ?? resource.size} bytes`
      })
      try {
        for await (const chunk of transfer.source) {
          parts.push(chunk)
          await hasher.update(chunk)
        }
      } catch (err) {
        failed(err as Error)
        throw err
      }
      progress.value = 1
      $('viewer').dataset.digest = hex(await hasher.digest())
      showContent(resource, new Blob(parts as Uint8Array<ArrayBuffer>[], { type: resource.type }), 'by transfer, hash verified')
    }
    expected.set(key, receive)
    node.services.requests.request(host, FETCH, new TextEncoder().encode(resource.name), { timeout: 30_000 }).then(() => {
      waiting = setTimeout(() => {
        if (expected.get(key) === receive) {
          expected.delete(key)
          failed(new Error(`the host said it is sending, but no transfer began within ${TRANSFER_START_TIMEOUT / 1000} s`))
        }
      }, TRANSFER_START_TIMEOUT)
    }, (err: Error) => {
      if (expected.get(key) === receive) { expected.delete(key) }
      failed(err)
    })
  }
}

async function main (): Promise<void> {
  const config = await (await fetch('../config.json')).json() as { bootstrap: string[], allowLocalDial?: boolean }
  // `?bootstrap=<multiaddr>` overrides the served config (tests and trying other networks)
  const override = new URLSearchParams(location.search).getAll('bootstrap')
  const node = await createMembrane({
    bootstrap: override.length > 0 ? override : config.bootstrap,
    allowLocalDial: config.allowLocalDial === true,
    webrtc: { rtcConfiguration: { iceServers: [] } },
    // pages link to each other, so a host stays reachable when its bootstrap peer goes
    topology: { enabled: true }
  })
  Object.assign(globalThis, { membrane: node })
  $('self').textContent = node.peerId.toString()
  const contact = node.services.firstContact
  contact.addEventListener('bootstrap:connect', () => { setStatus('connected') })
  contact.addEventListener('bootstrap:error', (evt) => { if (!contact.connected) { setStatus(`cannot reach the network: ${evt.detail.error.message}`, true) } })
  setStatus(contact.connected ? 'connected' : 'contacting the bootstrap peer…')
  const peerCount = $('peer-count')
  const updatePeers = (): void => { peerCount.textContent = String(node.getPeers().length) }
  node.addEventListener('peer:connect', updatePeers)
  node.addEventListener('peer:disconnect', updatePeers)

  const fetchOne = fetcher(node)
  const lists: Channel<Listing> = node.services.channels.channel<Listing>(CHANNEL, { validate: validListing })
  lists.subscribe((msg) => {
    if (msg.from.equals(node.peerId)) {
      return
    }
    hosts.set(msg.from.toString(), { peer: msg.from, resources: msg.value.resources, seen: Date.now() })
    renderResources(fetchOne)
  })
  const announce = (): void => {
    const resources = [...published].map(([name, blob]) => ({ name, size: blob.size, type: blob.type }))
    // nobody listening yet is fine: the list goes out again shortly
    lists.publish({ resources }).catch(() => {})
  }
  setInterval(() => { announce(); renderResources(fetchOne) }, REPUBLISH)

  // serving: small resources by request, large ones by transfer to whoever asked
  const lookUp = (data: Uint8Array): [string, Blob] => {
    const name = new TextDecoder().decode(data)
    const blob = published.get(name)
    if (blob == null) {
      throw new Error(`no resource named ${name.slice(0, 200)}`)
    }
    return [name, blob]
  }
  node.services.requests.handle(GET, async (data) => {
    const [, blob] = lookUp(data)
    if (blob.size > SMALL) {
      throw new Error('too large for a request: fetch it by transfer')
    }
    return new Uint8Array(await blob.arrayBuffer())
  })
  node.services.requests.handle(FETCH, (data, { from }) => {
    const [name, blob] = lookUp(data)
    node.services.transfers.send(from, TRANSFER, blob, { meta: new TextEncoder().encode(name) }).catch((err: Error) => {
      setStatus(`sending ${name} to ${short(from.toString())} failed: ${err.message}`, true)
    })
    return new TextEncoder().encode('sending')
  })
  node.services.transfers.handle(TRANSFER, async (transfer) => {
    const receive = expected.get(`${transfer.from.toString()}/${new TextDecoder().decode(transfer.meta)}`)
    if (receive == null) {
      throw new Error('not asked for')
    }
    await receive(transfer)
  })

  $('publish-form').addEventListener('submit', (evt) => {
    evt.preventDefault()
    const name = $<HTMLInputElement>('res-name').value.trim()
    const file = $<HTMLInputElement>('res-file').files?.[0]
    const text = $<HTMLTextAreaElement>('res-text').value
    if (name === '' || (file == null && text === '') || (published.size >= MAX_RESOURCES && !published.has(name))) {
      return
    }
    published.set(name, file ?? new Blob([text], { type: 'text/plain' }))
    $<HTMLFormElement>('publish-form').reset()
    renderMine()
    announce()
  })
}

main().catch((err: Error) => { setStatus(`failed to start: ${err.message}`, true) })
