//! The routes: each request (read and framed by `server.rs`, on its connection's thread) is
//! answered from the latest [`Snapshot`], encoded by prometheus-client in the format the
//! `Accept` header asks for. Nothing here touches the kernel or waits for the tracing thread:
//! it only takes the snapshot's `Arc` under a lock.
//!
//! Routes: `GET /metrics` (and `HEAD`), `GET /` (a line pointing at `/metrics`); any other path
//! is 404, any other method 405 (with `Allow`).

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use prometheus_client::{
    collector::Collector,
    encoding::{DescriptorEncoder, NoLabelSet},
    metrics::MetricType,
    registry::Registry,
};

use super::metrics::{Kind, Sample, Snapshot};
use super::server::{self, Request, Response};

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
    request.headers.iter().any(|(name, value)| {
        name.eq_ignore_ascii_case("Accept") && value.contains("application/openmetrics-text")
    })
}

/// Binds `addr` and answers requests on other threads until the process ends (`timeout`:
/// how long a request may take to arrive). Returns the address bound (the port is known
/// when `addr` asks for port 0).
pub fn serve(
    addr: &str,
    shared: Shared,
    timeout: Duration,
) -> anyhow::Result<std::net::SocketAddr> {
    server::listen(addr, timeout, Arc::new(move |request: &Request| answer(request, &shared)))
}

/// The answer to one request.
pub fn answer(request: &Request, shared: &Shared) -> Response {
    if !matches!(request.method.as_str(), "GET" | "HEAD") {
        let mut response = Response::text(405, "method not allowed: only GET and HEAD\n");
        response.headers.push(("Allow", "GET, HEAD".into()));
        return response;
    }
    match request.path.as_str() {
        "/metrics" => {
            let snapshot = shared.lock().map(|s| Arc::clone(&s)).unwrap_or_default();
            let (body, content_type) = encode(snapshot, wants_openmetrics(request));
            Response {
                status: 200,
                headers: vec![("Content-Type", content_type.into())],
                body: body.into_bytes(),
            }
        }
        "/" => Response::text(200, "bpfscope exporter: metrics at /metrics\n"),
        _ => Response::text(404, "not found: only /metrics is served\n"),
    }
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

    fn route(head: &str) -> Response {
        let request = server::parse_head(head.as_bytes()).expect("a valid request");
        answer(&request, &Arc::new(Mutex::new(snapshot())))
    }

    #[test]
    fn routes() {
        let response = route("GET http://h:9435/metrics?x HTTP/1.1\r\nHost: h\r\n\r\n");
        assert_eq!(response.status, 200);
        assert!(response.headers[0].1.starts_with("text/plain; version=0.0.4"));
        let response =
            route("HEAD /metrics HTTP/1.0\r\naccept: application/openmetrics-text\r\n\r\n");
        assert_eq!(response.status, 200);
        assert!(response.headers[0].1.starts_with("application/openmetrics-text"));
        assert!(String::from_utf8(response.body).unwrap().ends_with("# EOF\n"));
        assert_eq!(route("GET / HTTP/1.0\r\n\r\n").status, 200);
        for path in ["/metrics/", "//metrics", "/metrics/../x", "*", "/%6detrics"] {
            assert_eq!(route(&format!("GET {path} HTTP/1.0\r\n\r\n")).status, 404, "{path}");
        }
        for method in ["POST", "PUT", "DELETE", "OPTIONS", "get"] {
            let response = route(&format!("{method} /metrics HTTP/1.0\r\n\r\n"));
            assert_eq!(response.status, 405, "{method}");
            assert!(response.headers.contains(&("Allow", "GET, HEAD".into())), "{method}");
        }
    }
}
