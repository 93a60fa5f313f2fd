//! The embedded ephemeral relay (server) and the relay client pool.
