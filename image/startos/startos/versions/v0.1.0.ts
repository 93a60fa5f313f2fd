import { IMPOSSIBLE, VersionInfo } from '@start9labs/start-sdk'

export const v0_1_0 = VersionInfo.of({
  version: '0.1.0:0',
  releaseNotes: 'First StartOS release of Frostbox.',
  migrations: {
    up: async () => {},
    down: IMPOSSIBLE,
  },
})
