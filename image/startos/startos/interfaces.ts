import { sdk } from './sdk'
import { httpPort } from './utils'

export const setInterfaces = sdk.setupInterfaces(async ({ effects }) => {
  // One port serves the UI, the API and the relay; two interfaces describe the two uses.
  const host = sdk.MultiHost.of(effects, 'frostbox')
  const origin = await host.bindPort(httpPort, { protocol: 'http' })

  const ui = sdk.createInterface(effects, {
    name: 'Web UI and API',
    id: 'ui',
    description: 'Frostbox web interface and HTTP/WebSocket API (/api)',
    type: 'ui',
    masked: false,
    schemeOverride: null,
    username: null,
    path: '',
    query: {},
  })

  const relay = sdk.createInterface(effects, {
    name: 'Nostr relay',
    id: 'relay',
    description:
      'Ephemeral Nostr relay (WebSocket on /) for your FROSTR devices and NIP-46 clients',
    type: 'api',
    masked: false,
    schemeOverride: { ssl: 'wss', noSsl: 'ws' },
    username: null,
    path: '',
    query: {},
  })

  return [await origin.export([ui, relay])]
})
