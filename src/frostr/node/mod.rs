//! The signing node: peers, rounds, policies, nonce pools.
