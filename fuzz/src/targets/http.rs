//! The exporter's HTTP side (`crates/cli/commands/exporter/server.rs`, our own HTTP/1.1
//! server, `http.rs`'s routes and the `Snapshot` types of `metrics.rs`, included by path: the
//! CLI is a binary, not a library), through a real server: `http::serve` on a loopback port
//! of this process with a fixed snapshot (labels with quotes, backslashes, newlines and
//! UTF-8; NaN, negative and +Inf samples). Each input is sent raw over a new TCP connection,
//! then the server must still answer `GET /metrics` with the metrics.
//! Properties: every input gets an answer or a close within the deadline (the client closes
//! its sending side after the input, so nothing may wait for the server's timeout); an
//! answer is HTTP/1.1 with a `Content-Length` header; a 200 is only ever for `/` or
//! `/metrics` (the exporter refuses every other path); `/metrics` keeps answering.

#[path = "../../../crates/cli/commands/exporter/metrics.rs"]
#[allow(dead_code, reason = "the map-to-metric rules are the CLI's; only the types are used")]
mod metrics;

#[path = "../../../crates/cli/commands/exporter/server.rs"]
mod server;

#[path = "../../../crates/cli/commands/exporter/http.rs"]
mod routes;

use std::{
    io::{Read, Write},
    net::{Shutdown, SocketAddr, TcpStream},
    sync::{Arc, Mutex, OnceLock},
    time::Duration,
};

use metrics::{Family, Kind, Sample, Snapshot};

use crate::Target;

/// How long one exchange may take before it counts as a hang.
const TIMEOUT: Duration = Duration::from_secs(3);

fn snapshot() -> Snapshot {
    let labels = |v: &str| vec![("comm".to_string(), v.to_string())];
    Snapshot {
        families: vec![
            Family {
                name: "bpfscope_calls".into(),
                help: "bpfscope map @calls".into(),
                kind: Kind::Counter,
                series: vec![
                    (labels("a\"b\\c\nd"), Sample::Int(7)),
                    (labels("wl-réad"), Sample::Int(-3)),
                    (labels(""), Sample::Float(f64::NAN)),
                ],
            },
            Family {
                name: "bpfscope_lat".into(),
                help: "bpfscope map @lat\nwith a newline".into(),
                kind: Kind::Histogram,
                series: vec![(
                    Vec::new(),
                    Sample::Histogram {
                        sum: 10.0,
                        count: 3,
                        buckets: vec![(1.0, 1), (3.0, 2), (f64::INFINITY, 0)],
                    },
                )],
            },
            Family {
                name: "bpfscope_max".into(),
                help: String::new(),
                kind: Kind::Gauge,
                series: vec![(labels("x"), Sample::Int(i64::MIN))],
            },
        ],
    }
}

/// The server, started once per process.
fn server() -> Result<SocketAddr, String> {
    static ADDR: OnceLock<Result<SocketAddr, String>> = OnceLock::new();
    ADDR.get_or_init(|| {
        let shared = Arc::new(Mutex::new(Arc::new(snapshot())));
        // The server's timeout is never what ends an exchange: the client closes its side.
        routes::serve("127.0.0.1:0", shared, Duration::from_secs(5))
            .map_err(|e| format!("cannot start the server: {e}"))
    })
    .clone()
}

/// Sends `request` on a new connection, closes the sending side and reads the answer to its
/// end (at most 4 MiB).
fn exchange(addr: SocketAddr, request: &[u8], timeout: Duration) -> Result<Vec<u8>, String> {
    let mut stream = TcpStream::connect_timeout(&addr, TIMEOUT)
        .map_err(|e| format!("cannot connect to the exporter: {e}"))?;
    let _ = stream.set_read_timeout(Some(timeout));
    let _ = stream.set_write_timeout(Some(TIMEOUT));
    // The server may answer and close before it has read everything: not an error.
    let _ = stream.write_all(request);
    let _ = stream.shutdown(Shutdown::Write);
    let mut out = Vec::new();
    let mut chunk = [0u8; 16384];
    loop {
        match stream.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) if out.len() < 4 << 20 => out.extend_from_slice(&chunk[..n]),
            Ok(_) => return Err("an answer over 4 MiB".into()),
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {
                return Err(format!("no end of the answer within {timeout:?} ({} bytes so far)", out.len()))
            }
            // A reset after the answer (unread input at close) ends it too.
            Err(_) => break,
        }
    }
    Ok(out)
}

/// The status code of the first answer in `answer`: always `HTTP/1.1 NNN`.
fn status(answer: &[u8]) -> Option<u16> {
    let line = answer.split(|b| *b == b'\n').next()?;
    let line = std::str::from_utf8(line).ok()?;
    line.strip_prefix("HTTP/1.1 ")?.get(..3)?.parse().ok()
}

/// The path the first request line of `bytes` names, as the server should read it (empty
/// lines before it skipped; origin or absolute form).
fn first_path(bytes: &[u8]) -> String {
    let start = bytes.iter().position(|b| !matches!(b, b'\r' | b'\n')).unwrap_or(0);
    let line = bytes[start..].split(|b| *b == b'\n').next().unwrap_or(&[]);
    let line = String::from_utf8_lossy(line);
    let target = line.split(' ').nth(1).unwrap_or("");
    let path = match target.split_once("://") {
        Some((_, rest)) if !target.starts_with('/') => match rest.find(['/', '?', '#']) {
            Some(i) if rest.as_bytes()[i] == b'/' => &rest[i..],
            _ => "/",
        },
        _ => target,
    };
    path.split(['?', '#']).next().unwrap_or("").to_string()
}

fn run(bytes: &[u8]) -> Result<u64, String> {
    let addr = server()?;
    let answer = exchange(addr, bytes, TIMEOUT)?;
    let code = status(&answer);
    if !answer.is_empty() && code.is_none() {
        return Err(format!(
            "an answer that is not HTTP/1.1: {:?}",
            String::from_utf8_lossy(&answer[..answer.len().min(200)])
        ));
    }
    if !answer.is_empty() {
        let head_end = answer.windows(4).position(|w| w == b"\r\n\r\n");
        let head = String::from_utf8_lossy(&answer[..head_end.unwrap_or(answer.len())]);
        let length = head.lines().find_map(|l| {
            let (name, value) = l.split_once(':')?;
            name.eq_ignore_ascii_case("content-length").then(|| value.trim().parse::<usize>().ok())?
        });
        let Some((length, end)) = length.zip(head_end) else {
            return Err(format!("an answer without a Content-Length or an end of head: {head:?}"));
        };
        let body = answer.len() - end - 4;
        // HEAD answers have no body; otherwise the body is all there (more: pipelined answers).
        if body < length && !String::from_utf8_lossy(bytes).contains("HEAD") {
            return Err(format!("a body of {body} bytes for Content-Length {length}: {head:?}"));
        }
    }
    if code == Some(200) {
        // Only `/` and `/metrics` are served: the request line must name one of them.
        let path = first_path(bytes);
        if path != "/" && path != "/metrics" {
            return Err(format!("200 for a request for {path:?}, neither / nor /metrics"));
        }
    }
    // The server still answers a scrape, with the metrics.
    let scrape =
        exchange(addr, b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", TIMEOUT)
            .map_err(|e| format!("after this input, /metrics: {e}"))?;
    let text = String::from_utf8_lossy(&scrape);
    if status(&scrape) != Some(200) || !text.contains("bpfscope_calls_total{comm=\"a\\\"b\\\\c\\nd\"} 7") {
        return Err(format!("after this input, /metrics answers {:?}", &text[..text.len().min(300)]));
    }
    Ok(u64::from(code.unwrap_or(0)) << 8 | (answer.len().min(255) as u64))
}

fn seeds() -> Vec<Vec<u8>> {
    Vec::new()
}

pub const TARGET: Target = Target {
    name: "http",
    seeds,
    dict: &[
        "GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "CONNECT", "TRACE", "PATCH", "/",
        "/metrics", "/metrics/", "/metrics?x=1", "//metrics", "/../", "%2e", "%00", "*",
        "http://127.0.0.1/metrics", "HTTP/1.0", "HTTP/1.1", "HTTP/2.0", "HTTP/9", "\r\n",
        "\r\n\r\n", "\n", "Host: x", "Accept: ", "application/openmetrics-text",
        "application/openmetrics-text; version=1.0.0", "text/plain;version=0.0.4", "*/*;q=0.1",
        "Content-Length: ", "Content-Length: 0", "Content-Length: -1", "Transfer-Encoding: ",
        "chunked", "Connection: close", "Connection: keep-alive", "Connection: upgrade",
        "Upgrade: websocket", "Expect: 100-continue", "0\r\n\r\n", "ffffffffffffffff\r\n",
        "18446744073709551616", ": ", ":", " ", "\t", "\0", "PRI * HTTP/2.0", "http://h?x/metrics",
        "HTTP://h:9435/metrics#f", "Transfer-Encoding: chunked", "Transfer-Encoding: gzip, chunked",
        "Content-Length: 65536", "Content-Length: 65537", "Content-Length: 1, 1", "Host: ",
        "Connection: Keep-Alive", "Connection: close, keep-alive", ";ext=1", "\r\n0\r\n\r\n",
        "8000\r\n", "Trailer: x\r\n", "\r", "\x7f", "/metrics ", "HTTP/1.1 ",
    ],
    binary: false,
    run,
    deadline_ms: 1000,
};
