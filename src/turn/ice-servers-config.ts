/**
 * The ICE configuration a member's WebRTC transport uses: the app's servers,
 * then those the bootstrap peers it reached announced (their STUN service,
 * and TURN with short-lived credentials where the operator runs coturn).
 */
import type { WebRTCTransportInit } from '@libp2p/webrtc'

export type RtcConfigurationOption = WebRTCTransportInit['rtcConfiguration']

/**
 * node-datachannel hands each server to libdatachannel as one URL,
 * `turn:<username>:<credential>@host:port`, which libdatachannel parses and
 * percent-decodes. coturn's REST credentials hold `:`, `/`, `+` and `=`, so
 * unencoded they break the URL and the server is silently dropped.
 */
export function encodeForNodeDatachannel (server: RTCIceServer): RTCIceServer {
  if (server.username == null || server.credential == null) {
    return server
  }
  return { ...server, username: encodeURIComponent(server.username), credential: encodeURIComponent(String(server.credential)) }
}

/**
 * An `rtcConfiguration` for @libp2p/webrtc that is read again for every new
 * peer connection: the app's configuration with `discovered()` servers added
 * after the app's own. When the app sets no servers and none were discovered,
 * the stock defaults apply.
 */
export function iceConfiguration (app: RtcConfigurationOption, discovered: () => RTCIceServer[], runtime: 'node' | 'browser'): () => Promise<RTCConfiguration> {
  return async () => {
    const base: RTCConfiguration = { ...(typeof app === 'function' ? await app() : app) }
    const extra = discovered()
    if (extra.length > 0 || base.iceServers != null) {
      base.iceServers = [...(base.iceServers ?? []), ...extra]
      if (runtime === 'node') {
        base.iceServers = base.iceServers.map(encodeForNodeDatachannel)
      }
    }
    return base
  }
}
