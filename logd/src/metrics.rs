//! Prometheus metrics, served at `/metrics`. Every label has a small fixed set of values
//! (reasons, transports); nothing is labelled by app, client or path.

use prometheus::{Histogram, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Registry};
use slipway_config::metrics::Registrar;

/// Transports a subscriber can use (label values of `slipway_logd_subscribers`).
pub const TRANSPORTS: [&str; 4] = ["sse", "websocket", "ndjson", "text"];

/// Every metric logd exports.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    /// Records kept.
    pub records: IntCounter,
    /// Bytes of forward frames read.
    pub bytes: IntCounter,
    /// Records not kept, by reason (`no_app`, `too_many_apps`).
    pub records_dropped: IntCounterVec,
    /// Open forward connections.
    pub connections: IntGauge,
    /// Forward connections accepted.
    pub connections_total: IntCounter,
    /// Connections closed for bad input, by reason (`malformed`, `wrong_type`, `oversized`,
    /// `too_many_entries`, `bad_gzip`, `bad_compression`, `truncated`), or refused at
    /// accept (`connection_limit`).
    pub decode_errors: IntCounterVec,
    /// Forward connections closed by a timer, by reason (`idle`, `frame`).
    pub forward_timeouts: IntCounterVec,
    /// Bytes forward connections hold: unhandled frames plus space reserved for reads.
    pub forward_buffered_bytes: IntGauge,
    /// Forward connections whose next read waits for buffer space.
    pub forward_buffer_waiting: IntGauge,
    /// Time reads waited for buffer space (its count: reads that waited).
    pub forward_buffer_wait_seconds: Histogram,
    /// Handshakes refused, by reason.
    pub handshake_failures: IntCounterVec,
    /// `{"ack": chunk}` replies sent.
    pub acks: IntCounter,
    /// Open subscriber streams, by transport.
    pub subscribers: IntGaugeVec,
    /// Lines a slow subscriber missed.
    pub subscriber_dropped: IntCounter,
    /// Lines in memory.
    pub history_lines: IntGauge,
    /// Approximate bytes of lines in memory.
    pub history_bytes: IntGauge,
    /// Apps with history.
    pub apps: IntGauge,
    /// Lines evicted from memory, by reason (`app_limit`, `global_limit`).
    pub evicted: IntCounterVec,
    /// Failed disk writes and fsyncs.
    pub disk_errors: IntCounter,
    /// Time per fsync.
    pub fsync_seconds: Histogram,
    /// Bytes written to segment files.
    pub disk_bytes: IntCounter,
    /// Segment files whose torn or corrupt tail was cut at start.
    pub segment_truncations: IntCounter,
    /// Requests refused for want of a valid token, by status (`401`, `403`).
    pub auth_failures: IntCounterVec,
}

impl Metrics {
    /// Creates and registers every metric.
    pub fn new() -> Metrics {
        let r = Registrar::new();
        let m = Metrics {
            records: r.counter("slipway_logd_ingested_records_total", "Records received and kept"),
            bytes: r.counter("slipway_logd_ingested_bytes_total", "Bytes of forward protocol frames read"),
            records_dropped: r.counter_vec(
                "slipway_logd_records_dropped_total",
                "Records not kept, by reason",
                &["reason"],
            ),
            connections: r.gauge("slipway_logd_forward_connections", "Open forward connections"),
            connections_total: r.counter("slipway_logd_forward_connections_total", "Forward connections accepted"),
            decode_errors: r.counter_vec(
                "slipway_logd_decode_errors_total",
                "Forward connections closed for bad input (or refused at the connection limit), by reason",
                &["reason"],
            ),
            forward_timeouts: r.counter_vec(
                "slipway_logd_forward_timeouts_total",
                "Forward connections closed by the idle or the frame timer, by reason",
                &["reason"],
            ),
            forward_buffered_bytes: r.gauge(
                "slipway_logd_forward_buffered_bytes",
                "Bytes held by forward connections: frames not yet handled and space reserved for reads",
            ),
            forward_buffer_waiting: r.gauge(
                "slipway_logd_forward_buffer_waiting_connections",
                "Forward connections whose next read waits for buffer space (forward.max_buffered_bytes)",
            ),
            forward_buffer_wait_seconds: r.histogram(
                "slipway_logd_forward_buffer_wait_seconds",
                "Time a forward read waited for buffer space",
                &[0.001, 0.01, 0.1, 0.5, 1.0, 5.0, 30.0, 120.0],
            ),
            handshake_failures: r.counter_vec(
                "slipway_logd_handshake_failures_total",
                "Forward handshakes refused, by reason",
                &["reason"],
            ),
            acks: r.counter("slipway_logd_acks_total", "Acks sent for chunks kept"),
            subscribers: r.gauge_vec("slipway_logd_subscribers", "Open log streams, by transport", &["transport"]),
            subscriber_dropped: r.counter(
                "slipway_logd_subscriber_dropped_lines_total",
                "Lines skipped for subscribers that fell behind",
            ),
            history_lines: r.gauge("slipway_logd_history_lines", "Lines kept in memory"),
            history_bytes: r.gauge("slipway_logd_history_bytes", "Approximate bytes of the lines kept in memory"),
            apps: r.gauge("slipway_logd_apps", "Apps with a history"),
            evicted: r.counter_vec(
                "slipway_logd_evicted_lines_total",
                "Lines evicted from memory, by reason",
                &["reason"],
            ),
            disk_errors: r.counter("slipway_logd_disk_errors_total", "Failed segment writes and fsyncs"),
            fsync_seconds: r.histogram(
                "slipway_logd_fsync_seconds",
                "Time per segment fsync",
                &[0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0],
            ),
            disk_bytes: r.counter("slipway_logd_disk_written_bytes_total", "Bytes written to segment files"),
            segment_truncations: r.counter(
                "slipway_logd_segment_truncations_total",
                "Segment files whose torn or corrupt tail was cut at start",
            ),
            auth_failures: r.counter_vec(
                "slipway_logd_auth_failures_total",
                "Requests refused for want of a valid token, by status",
                &["status"],
            ),
            // Last: every metric above is registered by now.
            registry: r.finish(),
        };
        for t in TRANSPORTS {
            m.subscribers.with_label_values(&[t]).set(0);
        }
        for reason in ["idle", "frame"] {
            m.forward_timeouts.with_label_values(&[reason]).inc_by(0);
        }
        m
    }

    /// The text exposition format.
    pub fn render(&self) -> String {
        slipway_config::metrics::render(&self.registry)
    }

    /// The `/metrics` answer.
    pub fn response(&self) -> axum::response::Response {
        slipway_config::metrics::response(&self.registry)
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}
