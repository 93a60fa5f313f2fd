//! `frostbox healthcheck`: exit 0 when `/ready` answers 2xx, 1 otherwise. Used as the
//! container HEALTHCHECK (the image has no curl). A raw HTTP/1.1 GET over a std `TcpStream`:
//! no runtime, no extra dependency.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

/// Default port when `HOST_PORT` is unset (igloo-server's default).
pub const DEFAULT_PORT: u16 = 8002;

#[derive(clap::Args, Debug, Default)]
pub struct HealthcheckArgs {
    /// URL to probe (plain http only). Default: http://127.0.0.1:$HOST_PORT/ready
    #[arg(long)]
    pub url: Option<String>,
    /// Connect + read timeout in seconds.
    #[arg(long, default_value_t = 5)]
    pub timeout: u64,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum HealthcheckError {
    #[error("only http:// URLs are supported, got {0:?}")]
    Scheme(String),
    #[error("bad URL {0:?}: {1}")]
    Url(String, &'static str),
    #[error("cannot resolve {0}")]
    Resolve(String),
    #[error("cannot connect to {0}: {1}")]
    Connect(String, String),
    #[error("I/O error talking to {0}: {1}")]
    Io(String, String),
    #[error("malformed HTTP response from {0}")]
    Response(String),
}

/// A parsed `http://host[:port][/path]`.
#[derive(Debug, PartialEq, Eq)]
pub struct Target {
    pub host: String,
    pub port: u16,
    pub path: String,
}

pub fn parse_url(url: &str) -> Result<Target, HealthcheckError> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| HealthcheckError::Scheme(url.to_owned()))?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    if authority.is_empty() {
        return Err(HealthcheckError::Url(url.to_owned(), "missing host"));
    }
    if path.chars().any(|c| c.is_control() || c == ' ') {
        return Err(HealthcheckError::Url(url.to_owned(), "invalid path"));
    }
    // [v6]:port, host:port, host
    let (host, port) = if let Some(r) = authority.strip_prefix('[') {
        let end = r
            .find(']')
            .ok_or(HealthcheckError::Url(url.to_owned(), "unclosed '['"))?;
        let host = &r[..end];
        let port = match &r[end + 1..] {
            "" => None,
            p => Some(
                p.strip_prefix(':')
                    .ok_or(HealthcheckError::Url(url.to_owned(), "bad port"))?,
            ),
        };
        (host, port)
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        }
    };
    let port = match port {
        None => 80,
        Some(p) => p
            .parse::<u16>()
            .map_err(|_| HealthcheckError::Url(url.to_owned(), "bad port"))?,
    };
    if host.is_empty() {
        return Err(HealthcheckError::Url(url.to_owned(), "missing host"));
    }
    Ok(Target {
        host: host.to_owned(),
        port,
        path: path.to_owned(),
    })
}

/// The default probe URL from `HOST_PORT`.
pub fn default_url() -> String {
    let port = std::env::var("HOST_PORT")
        .ok()
        .and_then(|p| p.trim().parse::<u16>().ok())
        .unwrap_or(DEFAULT_PORT);
    format!("http://127.0.0.1:{port}/ready")
}

/// Performs the GET and returns the HTTP status code.
pub fn probe(url: &str, timeout: Duration) -> Result<u16, HealthcheckError> {
    let t = parse_url(url)?;
    let hostport = if t.host.contains(':') {
        format!("[{}]:{}", t.host, t.port)
    } else {
        format!("{}:{}", t.host, t.port)
    };
    let addrs: Vec<_> = (t.host.as_str(), t.port)
        .to_socket_addrs()
        .map_err(|_| HealthcheckError::Resolve(hostport.clone()))?
        .collect();
    let mut last = HealthcheckError::Resolve(hostport.clone());
    let mut stream = None;
    for a in addrs {
        match TcpStream::connect_timeout(&a, timeout) {
            Ok(s) => {
                stream = Some(s);
                break;
            }
            Err(e) => last = HealthcheckError::Connect(hostport.clone(), e.to_string()),
        }
    }
    let mut s = stream.ok_or(last)?;
    let io = |e: std::io::Error| HealthcheckError::Io(hostport.clone(), e.to_string());
    s.set_read_timeout(Some(timeout)).map_err(io)?;
    s.set_write_timeout(Some(timeout)).map_err(io)?;
    let req = format!(
        "GET {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: frostbox-healthcheck\r\nAccept: */*\r\nConnection: close\r\n\r\n",
        t.path, hostport
    );
    s.write_all(req.as_bytes()).map_err(io)?;
    // Only the status line matters; read until the first CRLF (bounded).
    let mut buf = Vec::with_capacity(256);
    let mut chunk = [0u8; 256];
    while !buf.windows(2).any(|w| w == b"\r\n") && buf.len() < 4096 {
        let n = s.read(&mut chunk).map_err(io)?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    parse_status(&buf).ok_or(HealthcheckError::Response(hostport))
}

fn parse_status(buf: &[u8]) -> Option<u16> {
    let line_end = buf.windows(2).position(|w| w == b"\r\n")?;
    let line = std::str::from_utf8(&buf[..line_end]).ok()?;
    let mut parts = line.split(' ');
    let version = parts.next()?;
    if !version.starts_with("HTTP/1.") {
        return None;
    }
    let code = parts.next()?;
    if code.len() != 3 {
        return None;
    }
    code.parse().ok()
}

pub fn run(a: HealthcheckArgs) -> i32 {
    let url = a.url.unwrap_or_else(default_url);
    match probe(&url, Duration::from_secs(a.timeout.max(1))) {
        Ok(code) if (200..300).contains(&code) => 0,
        Ok(code) => {
            eprintln!("frostbox healthcheck: {url} answered {code}");
            1
        }
        Err(e) => {
            eprintln!("frostbox healthcheck: {e}");
            1
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    #[test]
    fn parses_urls() {
        assert_eq!(
            parse_url("http://127.0.0.1:8002/ready"),
            Ok(Target {
                host: "127.0.0.1".into(),
                port: 8002,
                path: "/ready".into()
            })
        );
        assert_eq!(
            parse_url("http://h").map(|t| (t.port, t.path)),
            Ok((80, "/".into()))
        );
        assert_eq!(
            parse_url("http://[::1]:9/x").map(|t| t.host),
            Ok("::1".into())
        );
        assert!(matches!(
            parse_url("https://h/"),
            Err(HealthcheckError::Scheme(_))
        ));
        assert!(matches!(
            parse_url("http://h:99999/"),
            Err(HealthcheckError::Url(..))
        ));
        assert!(matches!(
            parse_url("http:///x"),
            Err(HealthcheckError::Url(..))
        ));
        assert!(matches!(
            parse_url("http://h/a b"),
            Err(HealthcheckError::Url(..))
        ));
    }

    #[test]
    fn status_line() {
        assert_eq!(parse_status(b"HTTP/1.1 200 OK\r\n"), Some(200));
        assert_eq!(
            parse_status(b"HTTP/1.0 503 Service Unavailable\r\nx"),
            Some(503)
        );
        assert_eq!(parse_status(b"SSH-2.0-x\r\n"), None);
        assert_eq!(parse_status(b"HTTP/1.1 200"), None);
    }

    /// One-shot server answering with `status`; returns the URL and the request it saw.
    fn serve_once(status: &'static str) -> (String, std::thread::JoinHandle<String>) {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let h = std::thread::spawn(move || {
            let (mut s, _) = l.accept().unwrap();
            let mut req = Vec::new();
            let mut b = [0u8; 512];
            while !req.windows(4).any(|w| w == b"\r\n\r\n") {
                let n = s.read(&mut b).unwrap();
                if n == 0 {
                    break;
                }
                req.extend_from_slice(&b[..n]);
            }
            s.write_all(format!("HTTP/1.1 {status}\r\ncontent-length: 0\r\n\r\n").as_bytes())
                .unwrap();
            String::from_utf8(req).unwrap()
        });
        (format!("http://127.0.0.1:{port}/ready"), h)
    }

    #[test]
    fn ok_and_unavailable_and_refused() {
        let (url, h) = serve_once("200 OK");
        assert_eq!(
            run(HealthcheckArgs {
                url: Some(url),
                timeout: 2
            }),
            0
        );
        let req = h.join().unwrap();
        assert!(req.starts_with("GET /ready HTTP/1.1\r\n"), "{req}");
        assert!(req.contains("\r\nHost: 127.0.0.1:"), "{req}");

        let (url, h) = serve_once("503 Service Unavailable");
        assert_eq!(
            run(HealthcheckArgs {
                url: Some(url),
                timeout: 2
            }),
            1
        );
        h.join().unwrap();

        // a port nobody listens on
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let url = format!("http://127.0.0.1:{port}/ready");
        assert!(matches!(
            probe(&url, Duration::from_secs(1)),
            Err(HealthcheckError::Connect(..))
        ));
    }
}
