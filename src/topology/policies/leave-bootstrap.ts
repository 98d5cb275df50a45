import type { LinkView, RoundView } from './view.js'

export interface LeaveBootstrapOptions {
  /** This node is dialable only through a relay reservation on the bootstrap peer `key` */
  holdsReservation(key: string): boolean
}

/**
 * (d) First contact is over once this node holds `minPeers` member links and
 * every map node is reachable over member links: the bootstrap links to
 * close. A bootstrap peer that holds our relay reservation (our only way to
 * be dialed) is kept.
 */
export function leaveBootstrapPolicy (view: RoundView, options: LeaveBootstrapOptions): LinkView[] {
  if (view.members.length < view.minPeers) {
    return []
  }
  const whole = view.mapNodes.every(key => view.bootstraps.has(key) || view.distances.has(key))
  if (!whole) {
    return []
  }
  return view.links.filter(l => view.bootstraps.has(l.key) && !options.holdsReservation(l.key))
}
