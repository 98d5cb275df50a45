// The example dapp: joins the mesh through the bootstrap peer that served the page
import { createMembrane } from '../../src/index.browser.js'
import type { BroadcastMessage } from '../../src/index.browser.js'

const TOPIC = 'membrane-chat'
const statusEl = document.getElementById('status') as HTMLElement
const messagesEl = document.getElementById('messages') as HTMLOListElement
const form = document.getElementById('send-form') as HTMLFormElement
const input = document.getElementById('message') as HTMLInputElement

function setStatus (text: string, error = false): void {
  statusEl.textContent = text
  statusEl.classList.toggle('error', error)
}

function show (from: string, text: string): void {
  const li = document.createElement('li')
  const who = document.createElement('span')
  who.className = 'from'
  who.textContent = from.slice(-8)
  li.append(who, document.createTextNode(text))
  messagesEl.append(li)
  messagesEl.scrollTop = messagesEl.scrollHeight
}

async function main (): Promise<void> {
  const config = await (await fetch('config.json')).json() as { bootstrap: string[], allowLocalDial?: boolean }
  const node = await createMembrane({
    bootstrap: config.bootstrap,
    allowLocalDial: config.allowLocalDial === true,
    webrtc: { rtcConfiguration: { iceServers: [] } }
  })
  Object.assign(globalThis, { membrane: node })
  ;(document.getElementById('self') as HTMLElement).textContent = node.peerId.toString()
  const peerCount = document.getElementById('peer-count') as HTMLElement
  const updatePeers = (): void => { peerCount.textContent = String(node.getPeers().length) }
  node.addEventListener('peer:connect', updatePeers)
  node.addEventListener('peer:disconnect', updatePeers)

  node.services.broadcast.subscribe(TOPIC, (msg: BroadcastMessage) => {
    show(msg.from.toString(), new TextDecoder().decode(msg.data))
  })
  form.addEventListener('submit', (evt) => {
    evt.preventDefault()
    const text = input.value.trim()
    if (text === '') {
      return
    }
    node.services.broadcast.publish(TOPIC, new TextEncoder().encode(text)).then(() => {
      show(node.peerId.toString(), text)
      input.value = ''
      setStatus('connected')
    }, (err: Error) => {
      setStatus(`not sent: ${err.message}`, true)
    })
  })
  setStatus('connected')
}

main().catch((err: Error) => { setStatus(`failed to start: ${err.message}`, true) })
