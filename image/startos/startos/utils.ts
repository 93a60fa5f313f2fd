// Constants shared by the package modules.

/** Frostbox's single listener: web UI, HTTP API, WebSocket API and the Nostr relay (WS on /). */
export const httpPort = 8002
/** The data volume, mounted where the image's FROSTBOX_DATA points. */
export const dataMount = '/data'
export const binary = '/usr/local/bin/frostbox'
