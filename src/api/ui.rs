//! The LAN web UI: assets from `web/`, embedded at compile time and served with content hashes.
