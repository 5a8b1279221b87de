//! What the layers of the request stack hand each other: a request whose app is known
//! ([`Routed`]), and what the inner layers know about it beyond the request itself
//! ([`Meta`]: its id, the `Accept` header the router's own pages follow, its connection).

use std::sync::Arc;

use http::{HeaderValue, Request, Response};
use hyper::body::Incoming;

use crate::downstream::conn_state::ConnState;
use crate::lines::Code;
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
    /// The router's own answer for `problem`, noted with its router line's code.
    pub(crate) fn problem(&self, problem: Problem) -> Response<ProxyBody> {
        let mut response = error_page::render(problem, self.accept.as_ref(), &self.request_id);
        response.body_mut().note_mut().code = line_code(problem);
        response
    }

    /// [`Meta::problem`] with another code than the problem's own (a connect timeout is
    /// the same 504 page as a response timeout, but H19, not H12).
    pub(crate) fn problem_coded(&self, problem: Problem, code: Code) -> Response<ProxyBody> {
        let mut response = self.problem(problem);
        response.body_mut().note_mut().code = Some(code);
        response
    }
}

/// The router line's code of the router's answer for `problem`. The host problems have
/// none: such requests have no app, so no app's log gets their line.
fn line_code(problem: Problem) -> Option<Code> {
    match problem {
        Problem::BadHost | Problem::UnknownHost => None,
        Problem::BadRequest => Some(Code::H26),
        Problem::NoEndpoints => Some(Code::H14),
        Problem::Starting => Some(Code::H20),
        Problem::OverLimit => Some(Code::H11),
        Problem::Unreachable => Some(Code::H21),
        Problem::BadGateway => Some(Code::H13),
        Problem::Timeout => Some(Code::H12),
        Problem::BodyTimeout => Some(Code::H28),
    }
}
