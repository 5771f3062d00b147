//! The test harness's servers: a port another process holds is reported as taken, with the
//! server's own words, instead of being waited on until the start times out.

mod support;

use std::net::TcpListener;
use std::time::{Duration, Instant};

use support::RedisServer;

#[test]
fn a_port_held_by_another_process_is_named_as_taken() {
    let holder = TcpListener::bind(("127.0.0.1", support::free_port())).expect("bind a free port");
    let port = holder.local_addr().expect("its address").port();
    let started = Instant::now();
    let refused = std::panic::catch_unwind(|| RedisServer::start_on(port, &[]))
        .expect_err("a server started on a port another process holds");
    let message = refused
        .downcast_ref::<String>()
        .cloned()
        .unwrap_or_default();
    assert!(
        message.contains("taken by another process") && message.contains("Address already in use"),
        "{message}"
    );
    // Told by the server's log, not by the ten-second start deadline.
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn a_server_on_a_free_port_starts() {
    let server = RedisServer::start();
    let client = redis::Client::open(server.url()).expect("client");
    let mut conn = client.get_connection().expect("connect");
    let pong: String = redis::cmd("PING").query(&mut conn).expect("PING");
    assert_eq!(pong, "PONG");
}
