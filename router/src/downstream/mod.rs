//! The client side of a request, as every layer of the router sees it: the state of the
//! client's connection ([`conn_state`]), the strict HTTP/1 framing check its bytes pass
//! before hyper reads them ([`framing`]), its request body as sent upstream ([`body`]), its
//! request id ([`request_id`]) and the rule for when it switches protocols ([`upgrade`]).
//!
//! The bottom of the request path: it imports nothing of the crate but `clock` and a
//! constant of `config`, and the layers above it (accepting, the request stack, the
//! upstream pool) all build on it.

pub(crate) mod body;
pub(crate) mod conn_state;
pub(crate) mod framing;
pub(crate) mod request_id;
pub(crate) mod upgrade;
