//! Legacy 1.0.x generation (FROSTR.md, @frostr/bifrost 1.0.7). Leaks shares: opt-in only.
