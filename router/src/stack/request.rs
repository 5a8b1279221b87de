//! What the layers of the request stack hand each other: a request whose app is known
//! ([`Routed`]), and what the inner layers know about it beyond the request itself
//! ([`Meta`]: its id, the `Accept` header the router's own pages follow, its connection).

use std::sync::Arc;

use http::{HeaderValue, Request, Response};
use hyper::body::Incoming;

use crate::downstream::conn_state::ConnState;
use crate::stack::body::ProxyBody;
use crate::stack::error_page::{self, Problem};
use crate::table::{App, AppState};

/// A request whose app is known.
#[derive(Debug)]
pub(crate) struct Routed {
    pub(crate) req: Request<Incoming>,
    pub(crate) app: Arc<App>,
    pub(crate) state: Arc<AppState>,
    pub(crate) meta: Meta,
}

/// What the inner layers need to know about the request beyond the request itself.
#[derive(Debug, Clone)]
pub(crate) struct Meta {
    pub(crate) request_id: HeaderValue,
    pub(crate) accept: Option<HeaderValue>,
    pub(crate) conn: Arc<ConnState>,
}

impl Meta {
    /// The router's own answer for `problem`.
    pub(crate) fn problem(&self, problem: Problem) -> Response<ProxyBody> {
        error_page::render(problem, self.accept.as_ref(), &self.request_id)
    }
}
