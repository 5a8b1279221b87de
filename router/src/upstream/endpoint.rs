//! One upstream endpoint of an app: its address, the requests in flight to it (for
//! least-outstanding balancing), its passive health and its keep-alive connection pool.
//!
//! An `Endpoint` lives as long as some app's endpoint set lists its address: a route
//! update that keeps an address keeps the same `Arc<Endpoint>`, so counters, health and
//! pooled connections survive any number of table updates.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};

use crate::spec::EndpointAddr;
use crate::upstream::pool::Pool;

/// An upstream endpoint.
#[derive(Debug)]
pub struct Endpoint {
    /// Where it listens.
    pub addr: EndpointAddr,
    /// `addr` as text, for the access log and the admin API (formatted once).
    pub(crate) label: Box<str>,
    /// The dyno behind it (`web.1`), when the route source named it: the router's log
    /// lines say `dyno=` with it.
    pub dyno: Option<Box<str>>,
    outstanding: AtomicUsize,
    failures: AtomicU32,
    ejected: AtomicBool,
    pub(crate) pool: Pool,
}

impl Endpoint {
    /// A new endpoint with an empty pool of `workers` slots.
    pub(crate) fn new(addr: EndpointAddr, dyno: Option<&str>, workers: usize, max_idle: usize) -> Arc<Endpoint> {
        Arc::new(Endpoint {
            label: addr.to_string().into_boxed_str(),
            addr,
            dyno: dyno.map(Box::from),
            outstanding: AtomicUsize::new(0),
            failures: AtomicU32::new(0),
            ejected: AtomicBool::new(false),
            pool: Pool::new(workers, max_idle),
        })
    }

    /// Requests sent to this endpoint whose responses have not finished.
    pub fn outstanding(&self) -> usize {
        self.outstanding.load(Ordering::Relaxed)
    }

    /// Whether passive health took it out of rotation.
    pub fn is_ejected(&self) -> bool {
        self.ejected.load(Ordering::Relaxed)
    }

    /// Counts a request in flight until the returned guard drops.
    pub(crate) fn start_request(self: &Arc<Self>) -> InFlight {
        self.outstanding.fetch_add(1, Ordering::Relaxed);
        InFlight(self.clone())
    }

    /// A connection attempt succeeded: the failure streak ends.
    pub(crate) fn connect_succeeded(&self) {
        if self.failures.load(Ordering::Relaxed) != 0 {
            self.failures.store(0, Ordering::Relaxed);
        }
    }

    /// A connection attempt failed. Returns true when this failure ejects the endpoint
    /// (the caller then starts the probe that brings it back).
    pub(crate) fn connect_failed(&self, eject_after: u32) -> bool {
        let streak = self.failures.fetch_add(1, Ordering::Relaxed) + 1;
        streak >= eject_after && !self.ejected.swap(true, Ordering::AcqRel)
    }

    /// A probe reached the endpoint: back into rotation.
    pub(crate) fn restore(&self) {
        self.failures.store(0, Ordering::Relaxed);
        self.ejected.store(false, Ordering::Release);
    }
}

/// A request in flight to an endpoint; dropping it ends the count.
#[derive(Debug)]
pub(crate) struct InFlight(Arc<Endpoint>);

impl InFlight {
    pub(crate) fn endpoint(&self) -> &Arc<Endpoint> {
        &self.0
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.outstanding.fetch_sub(1, Ordering::Relaxed);
    }
}
