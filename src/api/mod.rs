//! HTTP + WebSocket API (axum): igloo-server-compatible routes, auth, metrics, OpenAPI.

pub mod ui;
