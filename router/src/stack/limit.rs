//! Per-app concurrency limit, as a tower layer.
//!
//! Each app may have at most `max_concurrent_requests` requests in flight (from its
//! options, else the router default). One more gets 503 with `Retry-After` right away,
//! without waiting: one app flooded with slow requests cannot take the router's capacity
//! from the others. A request holds its slot until its response body ends; an upgraded
//! connection (WebSocket) gives it back once the `101` is sent.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use futures_util::future::{Either, Ready, ready as ready_fut};
use http::Response;
use tower::{Layer, Service};

use crate::stack::body::ProxyBody;
use crate::stack::error_page::Problem;
use crate::stack::request::Routed;
use crate::table::Permit;

/// Adds [`AppLimit`].
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct AppLimitLayer;

impl<S> Layer<S> for AppLimitLayer {
    type Service = AppLimit<S>;

    fn layer(&self, inner: S) -> AppLimit<S> {
        AppLimit { inner }
    }
}

/// Refuses a request with 503 when its app is at its concurrency limit.
#[derive(Debug, Clone)]
pub(crate) struct AppLimit<S> {
    inner: S,
}

impl<S> Service<Routed> for AppLimit<S>
where
    S: Service<Routed, Response = Response<ProxyBody>, Error = Infallible>,
    S::Future: Unpin,
{
    type Response = Response<ProxyBody>;
    type Error = Infallible;
    type Future = Either<Ready<Result<Response<ProxyBody>, Infallible>>, LimitFuture<S::Future>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, routed: Routed) -> Self::Future {
        match routed.app.try_acquire(routed.state.max_concurrent) {
            None => Either::Left(ready_fut(Ok(routed.meta.problem(Problem::OverLimit)))),
            Some(permit) => Either::Right(LimitFuture { inner: self.inner.call(routed), permit: Some(permit) }),
        }
    }
}

/// The inner response, holding the permit in its body.
#[derive(Debug)]
pub(crate) struct LimitFuture<F> {
    inner: F,
    permit: Option<Permit>,
}

impl<F> Future for LimitFuture<F>
where
    F: Future<Output = Result<Response<ProxyBody>, Infallible>> + Unpin,
{
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let Ok(mut response) = ready!(Pin::new(&mut self.inner).poll(cx));
        if let Some(permit) = self.permit.take() {
            response.body_mut().hold_permit(permit);
        }
        Poll::Ready(Ok(response))
    }
}
