//! What the dashboard's tests share: a queue holding jobs in every state (fixture.rs), the
//! accessibility and validity check run in the browser (a11y.rs), the browser and its driver
//! (browser.rs, for the browser tests), and requests through the router (http.rs).
#![allow(dead_code, unreachable_pub)]

pub mod fixture;
pub mod http;
