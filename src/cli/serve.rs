//! `frostbox serve` (also `frostbox` with no subcommand): open the store, bind, serve the API,
//! relay and UI on one port, shut down gracefully on SIGTERM/SIGINT (≤ 5 s).

use crate::api::{self, AppState, UnlockedCredentials};
use crate::config::Config;
use crate::store::Store;
use crate::vault::SecretString;
use crate::vault::at_rest::KdfParams;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

#[derive(clap::Args, Default)]
pub struct ServeArgs {
    /// Data directory (database, device key). Env: FROSTBOX_DATA. Default ./data
    #[arg(long, value_name = "DIR")]
    pub data: Option<PathBuf>,
    /// Address to bind. Env: HOST_NAME. Default 127.0.0.1
    #[arg(long, value_name = "HOST")]
    pub host: Option<String>,
    /// Port to bind (0 = any free port). Env: HOST_PORT. Default 8002
    #[arg(long, value_name = "PORT")]
    pub port: Option<u16>,
}

/// Builds the configuration: flags > settings stored through `/api/env` > environment.
fn load_config(args: &ServeArgs) -> Result<(Config, Store), String> {
    let env_cfg = Config::from_env().map_err(|e| e.to_string())?;
    let data = args.data.clone().unwrap_or(env_cfg.data_dir);
    let store = Store::open_dir(&data).map_err(|e| format!("{}: {e}", data.display()))?;
    let stored: std::collections::HashMap<String, String> = store
        .settings()
        .map_err(|e| e.to_string())?
        .into_iter()
        .filter(|(k, _)| api::routes::ENV_WRITABLE.contains(&k.as_str()))
        .collect();
    let mut cfg = Config::from_lookup(|k| stored.get(k).cloned().or_else(|| std::env::var(k).ok()))
        .map_err(|e| format!("{e} (from environment or stored settings)"))?;
    cfg.data_dir = data;
    if let Some(h) = &args.host {
        cfg.host = h.clone();
    }
    if let Some(p) = args.port {
        cfg.port = p;
    }
    Ok((cfg, store))
}

/// A setup code like `7KQ2-MX9P-4TDV` (Crockford-ish base32, 60 bits).
fn setup_code() -> SecretString {
    const A: &[u8] = b"23456789ABCDEFGHJKLMNPQRSTUVWXYZ";
    let bytes: [u8; 12] = rand::random();
    let mut s = String::new();
    for (i, b) in bytes.iter().enumerate() {
        if i > 0 && i % 4 == 0 {
            s.push('-');
        }
        s.push(A[(*b as usize) % A.len()] as char);
    }
    SecretString::new(s)
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) {
            (Ok(mut t), Ok(mut i)) => {
                tokio::select! { _ = t.recv() => {}, _ = i.recv() => {} }
            }
            _ => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

pub fn run(args: ServeArgs) -> i32 {
    crate::health::init_logging();
    let (cfg, store) = match load_config(&args) {
        Ok(x) => x,
        Err(e) => {
            eprintln!("frostbox: configuration error: {e}");
            return 2;
        }
    };
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .max_blocking_threads(4)
        .thread_stack_size(512 * 1024)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("frostbox: cannot start runtime: {e}");
            return 1;
        }
    };
    let code = rt.block_on(serve(cfg, store));
    rt.shutdown_timeout(RUNTIME_DROP_BUDGET);
    code
}

async fn serve(cfg: Config, store: Store) -> i32 {
    let bind = cfg.bind_addr();
    let env_creds = match (&cfg.share_cred, &cfg.group_cred) {
        (Some(s), g) => Some(UnlockedCredentials {
            keyset: crate::store::DEFAULT_KEYSET.to_string(),
            share_cred: SecretString::new(s.expose().to_string()),
            group_cred: g
                .as_ref()
                .map(|g| SecretString::new(g.expose().to_string())),
            share_password: std::env::var("SHARE_PASSWORD").ok().map(SecretString::new),
        }),
        _ => None,
    };
    let needs_setup = cfg.admin_secret.is_none() && store.user_count().unwrap_or(0) == 0;
    let st = AppState::new(cfg, store, KdfParams::RECORD);

    // The relay shares the port: `GET /` with a WebSocket upgrade (NIP-01) or
    // `Accept: application/nostr+json` (NIP-11); plain `GET /` is the UI's index page.
    let relay = crate::relay::Relay::new(st.cfg.relay.clone());
    relay.set_index_handler(crate::api::ui::index_response);
    let liveness = crate::health::Liveness::new();

    // Decrypted credentials (keyset import, unlock, unattended start, GROUP_CRED/SHARE_CRED)
    // start the signing node; see `crate::frostr::node::factory`.
    let listener = match tokio::net::TcpListener::bind(&bind).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("frostbox: cannot listen on {bind}: {e}");
            return 1;
        }
    };
    let local = listener
        .local_addr()
        .map(|a| a.to_string())
        .unwrap_or(bind.clone());
    // The node reaches the embedded relay at the bound address (`--port 0` included).
    // Each started node also runs its NIP-46 bunker, found by `/api/nip46/*` through `bunkers`.
    // NIP-46 `auth_url`s name the web UI as the operator reached it when pairing the app, else
    // the bound address (a wildcard bind → http://frostbox.local:<port>).
    let bunkers = crate::nip46::BunkerSlot::new()
        .with_auth_url_base(crate::nip46::uri::fallback_web_base(&local));
    let signer =
        crate::frostr::node::factory::install_with_bunker(&st, &relay, &liveness, &local, &bunkers);
    if let Some(c) = env_creds
        && let Some(h) = st.credentials_hook()
    {
        h(c);
    }
    match api::routes::unseal_at_start(&st) {
        Ok(true) => tracing::info!("keyset unsealed with the device key"),
        Ok(false) => {}
        Err(e) => eprintln!("frostbox: could not unseal the default keyset: {}", e.error),
    }

    let extra: Vec<axum::Router> = vec![
        relay.router(),
        crate::nip46::runtime::mount(st.clone(), bunkers),
        crate::api::ui::router(),
    ];
    // --------------------------------------------------------------------------------------
    let app = api::app(st.clone(), extra);

    st.set_ready(true);
    let url = format!("http://{local}");
    eprintln!(
        "frostbox {} listening on {url} (API, UI and relay ws://{local}); data in {}",
        env!("CARGO_PKG_VERSION"),
        st.cfg.data_dir.display()
    );
    if needs_setup {
        let code = setup_code();
        eprintln!(
            "First run: open {url}/ and create the admin account with the setup code {}\n  \
             (or set ADMIN_SECRET; the code is valid until an admin exists and is printed only here)",
            code.expose()
        );
        st.set_setup_code(Some(code));
    } else if st.store.user_count().unwrap_or(0) == 0 {
        eprintln!("First run: open {url}/ and create the admin account with ADMIN_SECRET.");
    }
    // systemd watchdog: WATCHDOG=1 at half WATCHDOG_USEC while the heartbeats in `liveness`
    // are fresh (the event loop's own ticker; the node supervisor adds "node" when attached).
    let _watchdog = crate::health::spawn_watchdog(liveness.clone());
    crate::health::notify_ready(&format!("listening on {local}"));

    // Housekeeping: expired sessions, stale NIP-46 requests, nonce codes past their retention.
    let hk = st.clone();
    tokio::spawn(async move {
        let mut t = tokio::time::interval(Duration::from_secs(600));
        loop {
            t.tick().await;
            let s = hk.store.clone();
            let _ = tokio::task::spawn_blocking(move || {
                let now = crate::store::now();
                let _ = s.purge_sessions(now);
                let _ = s.sweep_nip46_requests(now, 7 * 86_400);
                let before = now.saturating_sub(crate::store::NONCE_LEDGER_RETENTION_SECS);
                match s.prune_consumed_before(before) {
                    Ok(0) => {}
                    Ok(n) => {
                        tracing::info!(pruned = n, "nonce ledger: forgot codes older than 30 days")
                    }
                    Err(e) => tracing::warn!(error = %e, "nonce ledger: pruning failed"),
                }
            })
            .await;
        }
    });

    // SIGTERM/SIGINT: not ready, STOPPING=1, then the bunker and the node stop (subscriptions
    // and relay connections closed while the embedded relay still runs), then the HTTP server
    // drains. Everything within STOP_BUDGET (systemd's TimeoutStopSec is 15 s).
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let st2 = st.clone();
    let graceful = async move {
        shutdown_signal().await;
        st2.set_ready(false);
        crate::health::notify_stopping();
        eprintln!("frostbox: shutting down");
        let _ = stop_tx.send(());
        if tokio::time::timeout(SIGNER_STOP_BUDGET, signer.shutdown(&st2))
            .await
            .is_err()
        {
            eprintln!("frostbox: the signer did not stop in time");
        }
    };
    let server = axum::serve(
        crate::relay::server::nodelay(listener),
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(graceful);
    tokio::select! {
        r = server => {
            if let Err(e) = r {
                eprintln!("frostbox: server error: {e}");
                return 1;
            }
        }
        _ = async {
            let _ = stop_rx.await;
            tokio::time::sleep(STOP_BUDGET).await;
        } => {
            eprintln!("frostbox: open connections did not close in time; exiting");
        }
    }
    // Every store write is a committed redb transaction (durable on return); the database
    // file is closed when the runtime drops the last handle (`run`).
    eprintln!("frostbox: stopped");
    0
}

/// From the signal to exit (the runtime then gets [`RUNTIME_DROP_BUDGET`] more).
const STOP_BUDGET: Duration = Duration::from_millis(4000);
/// Of which the bunker and node may take this much.
const SIGNER_STOP_BUDGET: Duration = Duration::from_millis(3000);
/// Blocking tasks still running at exit (a PBKDF2 decode, a store write) get this long.
const RUNTIME_DROP_BUDGET: Duration = Duration::from_millis(500);
