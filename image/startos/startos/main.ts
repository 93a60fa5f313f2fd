import { sdk } from './sdk'
import { binary, dataMount, httpPort } from './utils'

export const main = sdk.setupMain(async ({ effects }) => {
  console.info('Starting Frostbox')

  const subcontainer = await sdk.SubContainer.of(
    effects,
    { imageId: 'main' },
    sdk.Mounts.of().mountVolume({
      volumeId: 'main',
      subpath: null,
      mountpoint: dataMount,
      readonly: false,
    }),
    'frostbox',
  )

  return sdk.Daemons.of(effects).addDaemon('primary', {
    subcontainer,
    exec: {
      command: [binary, 'serve'],
      env: {
        HOST_NAME: '0.0.0.0',
        HOST_PORT: String(httpPort),
        FROSTBOX_DATA: dataMount,
      },
    },
    ready: {
      display: 'Signer',
      // /ready answers 200 only when the store is open, the listener is bound and the node
      // runs; `frostbox healthcheck` exits 0/1 on that (no curl in the image).
      fn: () =>
        sdk.healthCheck.runHealthScript(
          [binary, 'healthcheck', '--url', `http://127.0.0.1:${httpPort}/ready`],
          subcontainer,
          {
            timeout: 10_000,
            message: () => 'Frostbox is ready',
            errorMessage: 'Frostbox is not ready yet (see its logs)',
          },
        ),
    },
    requires: [],
  })
})
