//! The codes of router lines: Heroku's where Heroku has one for the same thing, so people
//! can search for them, and `S` codes for what only Slipway does. They are stable: the
//! README's table lists them, and tests and people's alerts match on them.

/// Why a request's line is not a plain `at=info` line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Code {
    /// The app is at its concurrency limit (503).
    H11,
    /// The app did not answer within the response timeout (504).
    H12,
    /// The app closed the connection without answering (502).
    H13,
    /// The app has no web processes (503).
    H14,
    /// The app broke off its response mid-body.
    H18,
    /// No connection to the app could be opened within the connect timeout (504).
    H19,
    /// A sleeping app was not up within the wake timeout (503).
    H20,
    /// The app's processes refused the connection, on every retry (502).
    H21,
    /// The request was refused as malformed: ambiguous framing, bad chunking (400).
    H26,
    /// The client went away before the response was complete.
    H27,
    /// The client stopped sending its request body (408).
    H28,
    /// A sleeping app was woken for this request (an `at=info` line).
    S10,
    /// A sleeping app could not be woken: no control plane, or it refused (503).
    S11,
}

impl Code {
    /// The code as written in the line.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Code::H11 => "H11",
            Code::H12 => "H12",
            Code::H13 => "H13",
            Code::H14 => "H14",
            Code::H18 => "H18",
            Code::H19 => "H19",
            Code::H20 => "H20",
            Code::H21 => "H21",
            Code::H26 => "H26",
            Code::H27 => "H27",
            Code::H28 => "H28",
            Code::S10 => "S10",
            Code::S11 => "S11",
        }
    }

    /// Its fixed description (`desc="..."`).
    pub(crate) fn desc(self) -> &'static str {
        match self {
            Code::H11 => "Backlog too deep",
            Code::H12 => "Request timeout",
            Code::H13 => "Connection closed without response",
            Code::H14 => "No web processes running",
            Code::H18 => "Server Request Interrupted",
            Code::H19 => "Backend connection timeout",
            Code::H20 => "App boot timeout",
            Code::H21 => "Backend connection refused",
            Code::H26 => "Request Error",
            Code::H27 => "Client Request Interrupted",
            Code::H28 => "Client Connection Idle",
            Code::S10 => "Sleeping app woken",
            Code::S11 => "Wake failed",
        }
    }

    /// Whether it is an error (`at=error`, always sent whatever the sampling).
    pub(crate) fn is_error(self) -> bool {
        self != Code::S10
    }
}
