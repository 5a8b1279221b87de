//! Prometheus plumbing: making and registering metrics in one step, and serving the text
//! exposition format. The metrics themselves belong to each program.

use axum::response::{IntoResponse, Response};
use http::{HeaderValue, header};
use prometheus::core::Collector;
use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry,
    TextEncoder,
};

/// The content type of the text exposition format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Makes metrics and registers each in one registry. Names and labels are the
/// program's constants, so an invalid or repeated one is a bug: it panics at start-up.
#[derive(Debug, Default)]
pub struct Registrar {
    registry: Registry,
}

impl Registrar {
    /// A registrar with an empty registry.
    pub fn new() -> Registrar {
        Registrar::default()
    }

    fn add<C: Collector + Clone + 'static>(&self, metric: C) -> C {
        self.registry.register(Box::new(metric.clone())).expect("metric names are unique");
        metric
    }

    /// A counter.
    pub fn counter(&self, name: &str, help: &str) -> IntCounter {
        self.add(IntCounter::new(name, help).expect("valid metric"))
    }

    /// A counter with labels.
    pub fn counter_vec(&self, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
        self.add(IntCounterVec::new(Opts::new(name, help), labels).expect("valid metric"))
    }

    /// A gauge.
    pub fn gauge(&self, name: &str, help: &str) -> IntGauge {
        self.add(IntGauge::new(name, help).expect("valid metric"))
    }

    /// A gauge with labels.
    pub fn gauge_vec(&self, name: &str, help: &str, labels: &[&str]) -> IntGaugeVec {
        self.add(IntGaugeVec::new(Opts::new(name, help), labels).expect("valid metric"))
    }

    /// A histogram with these bucket bounds.
    pub fn histogram(&self, name: &str, help: &str, buckets: &[f64]) -> Histogram {
        self.add(Histogram::with_opts(HistogramOpts::new(name, help).buckets(buckets.to_vec())).expect("valid metric"))
    }

    /// A histogram with labels and these bucket bounds.
    pub fn histogram_vec(&self, name: &str, help: &str, labels: &[&str], buckets: &[f64]) -> HistogramVec {
        self.add(
            HistogramVec::new(HistogramOpts::new(name, help).buckets(buckets.to_vec()), labels).expect("valid metric"),
        )
    }

    /// The registry holding everything made so far.
    pub fn finish(self) -> Registry {
        self.registry
    }
}

/// The registry's metrics in the text exposition format.
pub fn render(registry: &Registry) -> String {
    let mut out = Vec::with_capacity(16 * 1024);
    if let Err(e) = TextEncoder::new().encode(&registry.gather(), &mut out) {
        tracing::error!(error = %e, "metrics encoding failed");
    }
    String::from_utf8(out).unwrap_or_default()
}

/// A `/metrics` answer: the registry's text with its content type.
pub fn response(registry: &Registry) -> Response {
    let mut response = render(registry).into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
    response
}

#[cfg(test)]
mod tests;
