//! A TCP proxy that holds every byte for a fixed time in each direction: a network with that
//! round trip between the benchmark's clients and its Redis server.
//!
//! Each direction of each connection has a reader thread, which stamps what it reads with the
//! time it may leave, and a writer thread, which sleeps until then and sends it on. Plain
//! threads rather than Tokio tasks: Tokio's timers are millisecond-grained, and a thread with
//! its timer slack set to 1 ns (`PR_SET_TIMERSLACK`) wakes from `nanosleep` within tens of
//! microseconds of its deadline, without spinning (a spinning proxy would take a core from the
//! two processes being measured); each writer also aims its sleeps early by how late they have
//! lately ended, so that on a busy machine data still leaves on time on average. The report
//! gives the median `PING` time through the proxy beside the round trip asked for. Data is never reordered, and what is read together leaves
//! together, as on a network link whose bandwidth is not the limit.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

/// Bytes read at once from either side.
const CHUNK: usize = 64 * 1024;

/// The most a sleep's lateness counts toward aiming the next one early.
const MAX_LATE: Duration = Duration::from_micros(300);

/// A running proxy; stops accepting when dropped (open connections end with their clients).
#[derive(Debug)]
pub(crate) struct DelayProxy {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
}

impl DelayProxy {
    /// Listens on a free loopback port and forwards every connection to `upstream`, each byte
    /// delayed by `round_trip / 2` on the way there and again on the way back.
    pub(crate) fn start(upstream: SocketAddr, round_trip: Duration) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the delay proxy");
        let addr = listener.local_addr().expect("the delay proxy's address");
        let stop = Arc::new(AtomicBool::new(false));
        let one_way = round_trip / 2;
        let stopping = stop.clone();
        thread::Builder::new()
            .name("delay-proxy".into())
            .spawn(move || {
                for client in listener.incoming() {
                    if stopping.load(Ordering::Relaxed) {
                        break;
                    }
                    let Ok(client) = client else { continue };
                    match TcpStream::connect(upstream) {
                        Ok(server) => link(client, server, one_way),
                        Err(error) => eprintln!("delay proxy: cannot reach {upstream}: {error}"),
                    }
                }
            })
            .expect("spawn the delay proxy");
        Self { addr, stop }
    }

    /// The port clients connect to.
    pub(crate) fn port(&self) -> u16 {
        self.addr.port()
    }
}

impl Drop for DelayProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        // Wakes the accepting thread so that it sees the flag.
        let _ = TcpStream::connect(self.addr);
    }
}

/// Forwards both directions between `client` and `server`, each delayed by `one_way`.
fn link(client: TcpStream, server: TcpStream, one_way: Duration) {
    for stream in [&client, &server] {
        let _ = stream.set_nodelay(true);
    }
    let (client_in, server_in) = (
        client.try_clone().expect("clone a socket"),
        server.try_clone().expect("clone a socket"),
    );
    forward(client_in, server, one_way);
    forward(server_in, client, one_way);
}

/// Copies `from` to `to`, each read held until `one_way` after it was read; when `from` ends,
/// `to`'s sending side is shut down once everything read before has been sent.
fn forward(mut from: TcpStream, mut to: TcpStream, one_way: Duration) {
    let (tx, rx) = mpsc::channel::<(Instant, Vec<u8>)>();
    thread::spawn(move || {
        let mut buf = vec![0u8; CHUNK];
        loop {
            match from.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if tx
                        .send((Instant::now() + one_way, buf[..n].to_vec()))
                        .is_err()
                    {
                        break;
                    }
                }
            }
        }
        let _ = from.shutdown(Shutdown::Read);
    });
    thread::spawn(move || {
        precise_sleeps();
        // How late sleeps have lately ended, on average (weight 1/8): each sleep aims that much
        // early, so that sends leave on time on average however busy the machine is.
        let mut late = Duration::ZERO;
        while let Ok((due, bytes)) = rx.recv() {
            let aim = due.checked_sub(late).unwrap_or(due);
            let wait = aim.saturating_duration_since(Instant::now());
            if !wait.is_zero() {
                thread::sleep(wait);
                let over = Instant::now().saturating_duration_since(aim).min(MAX_LATE);
                late = late - late / 8 + over / 8;
            }
            if to.write_all(&bytes).is_err() {
                break;
            }
        }
        let _ = to.shutdown(Shutdown::Write);
    });
}

/// Makes this thread's sleeps end as close to their deadline as the kernel can (the default
/// slack lets a sleep end up to 50 µs late, a tenth of the smallest delay measured).
fn precise_sleeps() {
    // SAFETY: PR_SET_TIMERSLACK takes one integer argument and changes only this thread.
    unsafe {
        libc::prctl(libc::PR_SET_TIMERSLACK, 1 as libc::c_ulong, 0, 0, 0);
    }
}
