import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { guardInitChannel, installInitChannelGuard } from '../src/webrtc/init-channel-guard.js'

/** A data channel whose state the test drives, shaped like RTCDataChannel (readyState on the prototype) */
class TestChannel extends EventTarget {
  state: RTCDataChannelState = 'connecting'
  closeCalls = 0
  get readyState (): RTCDataChannelState { return this.state }
  close (): void {
    this.closeCalls++
    if (this.state === 'closed') { return }
    this.state = 'closed'
    setTimeout(() => { this.dispatchEvent(new Event('close')) }, 0)
  }

  /** the remote closed it before it ever opened */
  remoteCloseBeforeOpen (): void {
    this.state = 'closed'
    this.dispatchEvent(new Event('close'))
  }

  /** the remote closed it after it opened */
  remoteClose (): void {
    this.state = 'closed'
    this.dispatchEvent(new Event('close'))
  }

  open (): void {
    this.state = 'open'
    this.dispatchEvent(new Event('open'))
  }
}

const nextEvent = async (target: EventTarget, name: string, ms = 1000): Promise<void> => new Promise((resolve, reject) => {
  const timer = setTimeout(() => { reject(new Error(`no ${name} within ${ms} ms`)) }, ms)
  target.addEventListener(name, () => { clearTimeout(timer); resolve() }, { once: true })
})

/** The dialer's sequence in @libp2p/webrtc: wait for open unless open, close, wait for close */
async function dialerFinishes (channel: TestChannel): Promise<void> {
  if (channel.readyState !== 'open') {
    await nextEvent(channel, 'open')
  }
  const closed = nextEvent(channel, 'close')
  channel.close()
  await closed
}

describe('init channel guard', () => {
  it('lets the dialer finish when the answerer closed the channel before it opened', async () => {
    const channel = new TestChannel()
    guardInitChannel(channel as unknown as RTCDataChannel)
    channel.remoteCloseBeforeOpen()
    assert.equal(channel.readyState, 'open', 'reports open so the dialer does not wait')
    await dialerFinishes(channel)
    assert.equal(channel.readyState, 'closed')
  })

  it('releases a dialer already waiting for open when the close arrives', async () => {
    const channel = new TestChannel()
    guardInitChannel(channel as unknown as RTCDataChannel)
    const done = dialerFinishes(channel)
    setTimeout(() => { channel.remoteCloseBeforeOpen() }, 10)
    await done
  })

  it('lets the dialer finish when the channel opened and the answerer closed it before the dialer looked (Chromium)', async () => {
    const channel = new TestChannel()
    guardInitChannel(channel as unknown as RTCDataChannel)
    channel.open()
    channel.remoteClose()
    assert.equal(channel.readyState, 'open', 'reports open so the dialer does not wait')
    await dialerFinishes(channel)
    assert.equal(channel.readyState, 'closed')
    assert.equal(channel.closeCalls, 0, 'the long-closed channel is not closed again')
  })

  it('without the guard an open-then-closed channel hangs the dialer too', async () => {
    const channel = new TestChannel()
    channel.open()
    channel.remoteClose()
    await assert.rejects(dialerFinishes(channel), /no open within/)
  })

  it('without the guard the same sequence hangs (the race it fixes)', async () => {
    const channel = new TestChannel()
    channel.remoteCloseBeforeOpen()
    await assert.rejects(dialerFinishes(channel), /no open within/)
  })

  it('leaves the normal open-then-close sequence unchanged', async () => {
    const channel = new TestChannel()
    guardInitChannel(channel as unknown as RTCDataChannel)
    setTimeout(() => { channel.open() }, 5)
    await dialerFinishes(channel)
    assert.equal(channel.closeCalls, 1)
    assert.equal(channel.readyState, 'closed')
  })

  it('patches createDataChannel once, guarding only channels labelled init', () => {
    class PeerConnection {
      createDataChannel (label: string): RTCDataChannel {
        const c = new TestChannel()
        Object.assign(c, { label })
        return c as unknown as RTCDataChannel
      }
    }
    assert.equal(installInitChannelGuard(PeerConnection), true)
    assert.equal(installInitChannelGuard(PeerConnection), false, 'idempotent')
    const pc = new PeerConnection()
    const init = pc.createDataChannel('init') as unknown as TestChannel
    const other = pc.createDataChannel('') as unknown as TestChannel
    init.remoteCloseBeforeOpen()
    other.remoteCloseBeforeOpen()
    assert.equal(init.readyState, 'open')
    assert.equal(other.readyState, 'closed')
  })
})
