//! NIP-46 remote signer (bunker).
