//! Nostr primitives: events, keys, NIP-19, filters, NIP-44 v2, NIP-04.
