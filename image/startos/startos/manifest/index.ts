import { setupManifest } from '@start9labs/start-sdk'

export const manifest = setupManifest({
  id: 'frostbox',
  title: 'Frostbox',
  license: 'MIT',
  packageRepo: 'https://github.com/frostr-org/frostbox/tree/main/image/startos',
  upstreamRepo: 'https://github.com/frostr-org/frostbox',
  marketingUrl: 'https://frostr.org/',
  donationUrl: null,
  description: {
    short: 'Always-on FROSTR threshold signer, Nostr relay and NIP-46 bunker',
    long:
      'Frostbox holds one share of your k-of-n FROST-split Nostr key and co-signs with your ' +
      'other devices over Nostr relays, so your nsec never exists in one place. It also runs ' +
      'an ephemeral Nostr relay, a NIP-46 remote signer for Nostr apps, an HTTP/WebSocket API ' +
      'and a web UI, all from one small static binary.',
  },
  volumes: ['main'],
  images: {
    main: {
      // The multi-arch OCI image built by image/oci/mkoci.py and published by the release job.
      source: { dockerTag: 'ghcr.io/frostr-org/frostbox:0.1.0' },
      arch: ['x86_64', 'aarch64'],
    },
  },
  alerts: {
    install:
      'Frostbox holds a share of a Nostr key. Keep a backup of your share (or of this ' +
      'service) somewhere other than this server.',
    update: null,
    uninstall:
      'Uninstalling deletes this share. Make sure you can still reach your signing threshold ' +
      'with your other devices, or have a backup.',
    restore: null,
    start: null,
    stop: null,
  },
  dependencies: {},
})
