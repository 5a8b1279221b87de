//! Prometheus metrics, served on the admin listener at `/metrics`.
//!
//! Per-app series are created the first time an app serves a request (apps that get no
//! traffic cost nothing) and removed when the app leaves the table, so the label set stays
//! bounded by the live table. The request path only touches pre-resolved handles (atomic
//! adds), never the label maps.

use prometheus::{Histogram, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Registry};
use slipway_config::metrics::Registrar;

/// Label value for requests that matched no app (bad or unknown host).
pub const NO_APP: &str = "-";

const CLASSES: [&str; 5] = ["1xx", "2xx", "3xx", "4xx", "5xx"];

/// Every metric the router exports.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    per_app: AppVecs,
    /// Open client connections.
    pub open_connections: IntGauge,
    /// Open upgraded (WebSocket) tunnels.
    pub open_tunnels: IntGauge,
    /// Version of the published route table.
    pub table_version: IntGauge,
    /// Apps in the published route table.
    pub table_apps: IntGauge,
    /// Endpoints in the published route table.
    pub table_endpoints: IntGauge,
    /// Route changes applied, by source and result.
    pub route_updates: IntCounterVec,
    /// Routes-file reloads, by result.
    pub routes_file_reloads: IntCounterVec,
    /// Client connections closed for sending a request head too slowly.
    pub header_timeouts: IntCounter,
    /// Requests refused for ambiguous or malformed framing, by reason.
    pub rejected_requests: IntCounterVec,
    /// Reconnections to the control plane's route stream.
    pub control_reconnects: IntCounter,
    /// Route events from the control plane that the table refused.
    pub control_refused: IntCounter,
    /// Failed calls to the control plane, by call and reason.
    pub control_errors: IntCounterVec,
    /// Requests to wake sleeping apps, by result.
    pub wakes: IntCounterVec,
    /// TLS handshakes, by result and protocol version.
    pub tls_handshakes: IntCounterVec,
    /// ClientHellos for which no exact, wildcard or held certificate matched, by what
    /// they got instead.
    pub tls_resolver_misses: IntCounterVec,
    /// Seconds until each certificate expires, by host (hosts with certificates; set when
    /// `/metrics` is read).
    pub tls_certificate_expiry: IntGaugeVec,
    /// Certificate file loads, by result.
    pub tls_certificate_reloads: IntCounterVec,
    /// On-demand ACME certificate requests, by outcome.
    pub acme_orders: IntCounterVec,
    /// Router lines logd acknowledged.
    pub lines_sent: IntCounter,
    /// Kubernetes watch events received (objects listed, changed, deleted), by kind.
    pub kubernetes_events: IntCounterVec,
    /// Kubernetes watches that failed (and are retried), by kind.
    pub kubernetes_watch_errors: IntCounterVec,
    /// Batches of route changes the Kubernetes source sent to the table (one publish each).
    pub kubernetes_table_updates: IntCounter,
    /// Router lines not sent, by reason.
    pub lines_dropped: LinesDropped,
    no_app: AppMetrics,
}

/// `slipway_router_log_lines_dropped_total`'s series, resolved once.
#[derive(Debug, Clone)]
pub struct LinesDropped {
    /// The worker's queue was full (logd slow or down).
    pub queue_full: IntCounter,
    /// The request matched no app (unknown or bad host): no app's log to put it in.
    pub no_app: IntCounter,
    /// logd did not acknowledge the batch (connection lost, refused).
    pub send_failed: IntCounter,
}

/// Handles for one app's series.
#[derive(Debug, Clone)]
pub struct AppMetrics {
    by_class: [IntCounter; 5],
    duration: Histogram,
    /// Failed connection attempts to the app's endpoints.
    pub connect_errors: IntCounter,
    /// Requests tried again on another endpoint.
    pub retries: IntCounter,
    /// Endpoints taken out of rotation.
    pub ejections: IntCounter,
}

impl AppMetrics {
    /// Counts one finished request.
    pub fn observe(&self, status: u16, seconds: f64) {
        let class = usize::from(status / 100).clamp(1, 5) - 1;
        self.by_class[class].inc();
        self.duration.observe(seconds);
    }
}

impl Metrics {
    /// Creates and registers every metric.
    pub fn new() -> Metrics {
        let r = Registrar::new();
        let requests = r.counter_vec(
            "slipway_router_requests_total",
            "Requests answered, by app and status class",
            &["app", "class"],
        );
        let duration = r.histogram_vec(
            "slipway_router_request_duration_seconds",
            "Time from request head to the end of the response, by app",
            &["app"],
            &[0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0],
        );
        let per_app = |name: &str, help: &str| r.counter_vec(name, help, &["app"]);
        let connect_errors =
            per_app("slipway_router_upstream_connect_errors_total", "Failed connection attempts to endpoints");
        let retries = per_app("slipway_router_retries_total", "Requests tried again on another endpoint");
        let ejections = per_app("slipway_router_endpoint_ejections_total", "Endpoints taken out of rotation");
        let open_connections = r.gauge("slipway_router_open_connections", "Open client connections");
        let open_tunnels = r.gauge("slipway_router_open_tunnels", "Open upgraded (WebSocket) connections");
        let table_version = r.gauge("slipway_router_route_table_version", "Version of the published route table");
        let table_apps = r.gauge("slipway_router_route_table_apps", "Apps in the route table");
        let table_endpoints = r.gauge("slipway_router_route_table_endpoints", "Endpoints in the route table");
        let route_updates = r.counter_vec(
            "slipway_router_route_updates_total",
            "Route changes, by source and result",
            &["source", "result"],
        );
        let routes_file_reloads =
            r.counter_vec("slipway_router_routes_file_reloads_total", "Routes file reloads, by result", &["result"]);
        let header_timeouts = r.counter(
            "slipway_router_header_timeouts_total",
            "Client connections closed for sending a request head too slowly",
        );
        let rejected_requests = r.counter_vec(
            "slipway_router_rejected_requests_total",
            "Requests refused with 400 for ambiguous or malformed framing (smuggling attempts), by reason",
            &["reason"],
        );
        let control_reconnects =
            r.counter("slipway_router_control_reconnects_total", "Reconnections to the control plane's route stream");
        let control_refused =
            r.counter("slipway_router_control_refused_total", "Route events from the control plane refused");
        let control_errors = r.counter_vec(
            "slipway_router_control_errors_total",
            "Failed calls to the control plane, by call (route_stream, activity, wake) and reason",
            &["call", "reason"],
        );
        let wakes =
            r.counter_vec("slipway_router_wakes_total", "Requests to wake sleeping apps, by result", &["result"]);
        let tls_handshakes = r.counter_vec(
            "slipway_router_tls_handshakes_total",
            "TLS handshakes, by result (ok, error, timeout, no_certificate, challenge) and version (TLSv1_2, TLSv1_3, none)",
            &["result", "version"],
        );
        let tls_resolver_misses = r.counter_vec(
            "slipway_router_tls_resolver_misses_total",
            "ClientHellos no exact, wildcard or held certificate matched, by answer (on_demand, default, alert)",
            &["answer"],
        );
        let tls_certificate_expiry = r.gauge_vec(
            "slipway_router_tls_certificate_expiry_seconds",
            "Seconds until the certificate served for a host expires (negative: expired)",
            &["host"],
        );
        let tls_certificate_reloads = r.counter_vec(
            "slipway_router_tls_certificate_reloads_total",
            "Certificate file loads, by result (ok, error: the previous certificate keeps serving)",
            &["result"],
        );
        let acme_orders = r.counter_vec(
            "slipway_router_acme_orders_total",
            "On-demand certificates by outcome: issued (a new ACME order), stored (taken from the store, \
             ordered by another replica or an earlier run), failed, rate_limited, not_routed (host not in the table)",
            &["outcome"],
        );
        let lines_sent =
            r.counter("slipway_router_log_lines_sent_total", "Router lines in apps' logs that logd acknowledged");
        let dropped = r.counter_vec(
            "slipway_router_log_lines_dropped_total",
            "Router lines not sent to logd, by reason (queue_full, no_app, send_failed)",
            &["reason"],
        );
        let lines_dropped = LinesDropped {
            queue_full: dropped.with_label_values(&["queue_full"]),
            no_app: dropped.with_label_values(&["no_app"]),
            send_failed: dropped.with_label_values(&["send_failed"]),
        };
        let kubernetes_events = r.counter_vec(
            "slipway_router_kubernetes_events_total",
            "Kubernetes watch events received (listed, changed, deleted objects), by kind",
            &["kind"],
        );
        let kubernetes_watch_errors = r.counter_vec(
            "slipway_router_kubernetes_watch_errors_total",
            "Kubernetes watches that failed and are retried with backoff, by kind",
            &["kind"],
        );
        let kubernetes_table_updates = r.counter(
            "slipway_router_kubernetes_table_updates_total",
            "Batches of route changes the Kubernetes source sent to the route table (one publish each)",
        );
        let registry = r.finish();
        let per_app = AppVecs { requests, duration, connect_errors, retries, ejections };
        let no_app = per_app.for_app(NO_APP);
        Metrics {
            registry,
            per_app,
            open_connections,
            open_tunnels,
            table_version,
            table_apps,
            table_endpoints,
            route_updates,
            routes_file_reloads,
            header_timeouts,
            rejected_requests,
            control_reconnects,
            control_refused,
            control_errors,
            wakes,
            tls_handshakes,
            tls_resolver_misses,
            tls_certificate_expiry,
            tls_certificate_reloads,
            acme_orders,
            lines_sent,
            kubernetes_events,
            kubernetes_watch_errors,
            kubernetes_table_updates,
            lines_dropped,
            no_app,
        }
    }

    /// Handles for app `name`'s series, creating them.
    pub fn for_app(&self, name: &str) -> AppMetrics {
        self.per_app.for_app(name)
    }

    /// Handles for requests that matched no app.
    pub fn no_app(&self) -> &AppMetrics {
        &self.no_app
    }

    /// Drops app `name`'s series (the app left the table).
    pub fn remove_app(&self, name: &str) {
        self.per_app.remove_app(name);
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

/// The labelled families per-app handles are cut from (handles to the registered ones).
#[derive(Debug)]
struct AppVecs {
    requests: IntCounterVec,
    duration: HistogramVec,
    connect_errors: IntCounterVec,
    retries: IntCounterVec,
    ejections: IntCounterVec,
}

impl AppVecs {
    fn for_app(&self, name: &str) -> AppMetrics {
        AppMetrics {
            by_class: CLASSES.map(|class| self.requests.with_label_values(&[name, class])),
            duration: self.duration.with_label_values(&[name]),
            connect_errors: self.connect_errors.with_label_values(&[name]),
            retries: self.retries.with_label_values(&[name]),
            ejections: self.ejections.with_label_values(&[name]),
        }
    }

    fn remove_app(&self, name: &str) {
        for class in CLASSES {
            let _ = self.requests.remove_label_values(&[name, class]);
        }
        let _ = self.duration.remove_label_values(&[name]);
        let _ = self.connect_errors.remove_label_values(&[name]);
        let _ = self.retries.remove_label_values(&[name]);
        let _ = self.ejections.remove_label_values(&[name]);
    }
}
