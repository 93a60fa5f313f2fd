import { sdk } from './sdk'

// The whole data volume: the encrypted share store, settings and nonce ledger.
export const { createBackup, restoreInit } = sdk.setupBackups(async () =>
  sdk.Backups.ofVolumes('main'),
)
