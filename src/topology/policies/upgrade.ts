import type { LinkView, RoundView } from './view.js'

export interface UpgradeOptions {
  /** The policy's round interval, ms: the larger end steps in after three rounds */
  interval: number
  /** The peer is not backed off */
  ready(key: string): boolean
}

/**
 * (a) A relayed or circuit member link to make direct (WebRTC), one per round.
 * The end with the smaller PeerId upgrades, so both ends do not race; the
 * other steps in if the link is still relayed three rounds later.
 */
export function upgradePolicy (view: RoundView, options: UpgradeOptions): LinkView | undefined {
  return view.members.find(m => !m.direct && options.ready(m.key) &&
    (view.self < m.key || view.now - (m.linkedAt ?? view.now) > 3 * options.interval))
}
