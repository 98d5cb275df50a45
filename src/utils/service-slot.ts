/**
 * A service handed to another explicitly. `bind()` wraps the factory that
 * creates it; `get()` returns the instance. libp2p creates every service
 * before any of them starts, so a collaborator may call `get()` from its own
 * `start()` on, whatever order the services are listed in. This replaces
 * closures over the running node and casts of `components`.
 *
 * @example
 * ```ts
 * const map = serviceSlot<NetworkMap>('networkMap')
 * services: { networkMap: map.bind(networkMap()), meshCircuits: meshCircuits({ router: mapRouter(map.get) }) }
 * ```
 */
export interface ServiceSlot<S> {
  bind<F extends (components: any) => S>(factory: F): F // eslint-disable-line @typescript-eslint/no-explicit-any
  /** The service; throws while libp2p has not created it yet */
  get(): S
  /** The service, or undefined while libp2p has not created it yet (for callbacks that may run during creation) */
  getIfCreated(): S | undefined
}

export function serviceSlot <S> (name: string): ServiceSlot<S> {
  let service: S | undefined
  return {
    bind: <F extends (components: any) => S>(factory: F): F => ((components: unknown) => (service = factory(components))) as F, // eslint-disable-line @typescript-eslint/no-explicit-any
    get: () => {
      if (service == null) {
        throw new Error(`the ${name} service is not created yet`)
      }
      return service
    },
    getIfCreated: () => service
  }
}
