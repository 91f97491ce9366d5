//! The HTTP side: tiny_http parses requests (each connection on its own thread of its pool),
//! and each request is answered on a thread of its own from the latest [`Snapshot`], encoded
//! by prometheus-client in the format the `Accept` header asks for. Nothing here touches the
//! kernel or waits for the tracing thread: it only takes the snapshot's `Arc` under a lock.
//!
//! Routes: `GET /metrics` (and `HEAD`), `GET /` (a line pointing at `/metrics`); any other path
//! is 404, any other method 405. At most [`MAX_IN_FLIGHT`] responses are written at once;
//! past that a request gets 503 at once, so clients that do not read their response cannot
//! pile up threads. A request declaring a body over [`MAX_BODY`] is left unanswered (see
//! `serve`: tiny_http would allocate the declared size).

use std::{
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc, Mutex,
    },
    thread,
};

use prometheus_client::{
    collector::Collector,
    encoding::{DescriptorEncoder, NoLabelSet},
    metrics::MetricType,
    registry::Registry,
};
use tiny_http::{Header, Method, Request, Response, Server};

use super::metrics::{Kind, Sample, Snapshot};

/// Responses being written at once, at most.
pub const MAX_IN_FLIGHT: usize = 16;

/// The largest request body let through: scrapes have none (see `serve`).
pub const MAX_BODY: usize = 64 << 10;

/// Where the tracing thread leaves each new snapshot.
pub type Shared = Arc<Mutex<Arc<Snapshot>>>;

const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// The snapshot as a prometheus-client collector, encoded at each scrape.
#[derive(Debug)]
struct SnapshotCollector(Arc<Snapshot>);

impl Collector for SnapshotCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        for family in &self.0.families {
            let metric_type = match family.kind {
                Kind::Counter => MetricType::Counter,
                Kind::Gauge => MetricType::Gauge,
                Kind::Histogram => MetricType::Histogram,
            };
            let mut metric =
                encoder.encode_descriptor(&family.name, &family.help, None, metric_type)?;
            for (labels, sample) in &family.series {
                let mut series = metric.encode_family(labels)?;
                match (family.kind, sample) {
                    (Kind::Counter, Sample::Int(n)) if *n >= 0 => {
                        series.encode_counter::<NoLabelSet, _, u64>(&(*n as u64), None)?
                    }
                    (Kind::Counter, Sample::Int(n)) => {
                        series.encode_counter::<NoLabelSet, _, f64>(&(*n as f64), None)?
                    }
                    (Kind::Counter, Sample::Float(x)) => {
                        series.encode_counter::<NoLabelSet, _, f64>(x, None)?
                    }
                    (_, Sample::Int(n)) => series.encode_gauge(n)?,
                    (_, Sample::Float(x)) => series.encode_gauge(x)?,
                    (_, Sample::Histogram { sum, count, buckets }) => {
                        series.encode_histogram::<NoLabelSet>(*sum, *count, buckets, None)?
                    }
                }
            }
        }
        Ok(())
    }
}

/// The snapshot in the Prometheus text format 0.0.4, or in OpenMetrics; with its content type.
pub fn encode(snapshot: Arc<Snapshot>, openmetrics: bool) -> (String, &'static str) {
    let mut registry = Registry::default();
    registry.register_collector(Box::new(SnapshotCollector(snapshot)));
    let mut body = String::new();
    // Writing into a String fails only if a metric does; ours are plain numbers.
    if openmetrics {
        let _ = prometheus_client::encoding::text::encode(&mut body, &registry);
        (body, OPENMETRICS)
    } else {
        let _ = prometheus_client::encoding::prometheus_text::encode(&mut body, &registry);
        (body, prometheus_client::encoding::prometheus_text::CONTENT_TYPE)
    }
}

/// Whether the request's `Accept` asks for OpenMetrics (as Prometheus does when it prefers it).
fn wants_openmetrics(request: &Request) -> bool {
    request.headers().iter().any(|h| {
        h.field.equiv("Accept") && h.value.as_str().contains("application/openmetrics-text")
    })
}

/// Binds `addr` and answers requests on other threads until the process ends. Returns the
/// address bound (the port is known when `addr` asks for port 0).
pub fn serve(addr: &str, shared: Shared) -> anyhow::Result<std::net::SocketAddr> {
    let server = Server::http(addr).map_err(|e| anyhow::anyhow!("cannot listen on {addr}: {e}"))?;
    let bound = server
        .server_addr()
        .to_ip()
        .ok_or_else(|| anyhow::anyhow!("{addr} is not an IP address and port"))?;
    let in_flight = Arc::new(AtomicUsize::new(0));
    thread::Builder::new().name("http".into()).spawn(move || {
        for request in server.incoming_requests() {
            if request.body_length().is_some_and(|n| n > MAX_BODY) {
                // tiny_http 0.12 drains an unread body when the request is dropped into a
                // buffer of the size the client declared (`EqualReader`'s `Drop`):
                // `Content-Length: 999999999999999` aborts the process on the allocation
                // (found by fuzz/, target `http`; upstream tiny-http PR #290). Such a request
                // is left unanswered and never dropped: its connection stays open (one file
                // descriptor and one tiny_http thread) instead of the exporter dying.
                std::mem::forget(request);
                continue;
            }
            if in_flight.fetch_add(1, Ordering::SeqCst) >= MAX_IN_FLIGHT {
                in_flight.fetch_sub(1, Ordering::SeqCst);
                let _ = request.respond(Response::from_string("busy\n").with_status_code(503));
                continue;
            }
            let snapshot = shared.lock().map(|s| Arc::clone(&s)).unwrap_or_default();
            let in_flight = Arc::clone(&in_flight);
            let spawned = thread::Builder::new().name("scrape".into()).spawn(move || {
                answer(request, snapshot);
                in_flight.fetch_sub(1, Ordering::SeqCst);
            });
            if spawned.is_err() {
                eprintln!("WARNING: bpfscope exporter: cannot start a thread for a request");
            }
        }
    })?;
    Ok(bound)
}

fn header(name: &str, value: &str) -> Header {
    Header::from_bytes(name.as_bytes(), value.as_bytes()).expect("a valid header")
}

/// Answers one request.
fn answer(request: Request, snapshot: Arc<Snapshot>) {
    let get = matches!(request.method(), Method::Get | Method::Head);
    let path = request.url().split('?').next().unwrap_or("").to_string();
    let response = match (get, path.as_str()) {
        (true, "/metrics") => {
            let (body, content_type) = encode(snapshot, wants_openmetrics(&request));
            Response::from_string(body).with_header(header("Content-Type", content_type))
        }
        (true, "/") => Response::from_string("bpfscope exporter: metrics at /metrics\n")
            .with_header(header("Content-Type", "text/plain; charset=utf-8")),
        (true, _) => {
            Response::from_string("not found: only /metrics is served\n").with_status_code(404)
        }
        (false, _) => Response::from_string("method not allowed\n").with_status_code(405),
    };
    let _ = request.respond(response);
}

#[cfg(test)]
mod tests {
    use super::super::metrics::Family;
    use super::*;

    fn snapshot() -> Arc<Snapshot> {
        let labels = |v: &str| vec![("comm".to_string(), v.to_string())];
        Arc::new(Snapshot {
            families: vec![
                Family {
                    name: "bpfscope_calls".into(),
                    help: "bpfscope map @calls".into(),
                    kind: Kind::Counter,
                    series: vec![(labels("a\"b"), Sample::Int(7))],
                },
                Family {
                    name: "bpfscope_lat".into(),
                    help: "bpfscope map @lat".into(),
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
            ],
        })
    }

    #[test]
    fn text_format_0_0_4() {
        let (body, content_type) = encode(snapshot(), false);
        assert!(content_type.starts_with("text/plain; version=0.0.4"));
        assert!(body.contains("# TYPE bpfscope_calls_total counter\n"), "{body}");
        assert!(body.contains("bpfscope_calls_total{comm=\"a\\\"b\"} 7\n"), "{body}");
        assert!(body.contains("bpfscope_lat_bucket{le=\"3\"} 3\n"), "{body}");
        assert!(body.contains("bpfscope_lat_bucket{le=\"+Inf\"} 3\n"), "{body}");
        assert!(body.contains("bpfscope_lat_sum 10.0\n"), "{body}");
        assert!(!body.contains("# EOF"), "{body}");
    }

    #[test]
    fn openmetrics() {
        let (body, content_type) = encode(snapshot(), true);
        assert!(content_type.starts_with("application/openmetrics-text"));
        assert!(body.contains("# TYPE bpfscope_calls counter\n"), "{body}");
        assert!(body.ends_with("# EOF\n"), "{body}");
    }
}
