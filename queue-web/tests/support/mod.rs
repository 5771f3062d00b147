//! What the dashboard's tests share: a queue holding jobs in every state (fixture.rs), requests
//! through the router (http.rs), and for the browser tests the browser and its driver
//! (browser.rs) and the accessibility and validity check run in it (a11y.rs).
#![allow(dead_code, unreachable_pub)]

pub mod a11y;
pub mod browser;
pub mod fixture;
pub mod http;
