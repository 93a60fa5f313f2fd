//! Threshold math: key splitting, recovery, signing rounds, nonces and threshold ECDH.
