//! Configuration: environment (igloo-server names), flags and defaults.
