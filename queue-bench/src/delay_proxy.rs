//! A TCP proxy that holds every byte for a fixed time in each direction: a network with that
//! round trip between the benchmark's clients and its Redis server.
//!
//! Each direction of each connection has a thread that stamps what it reads with the time it
//! may leave and sends it on then, waiting in `ppoll` for data or for that time, whichever comes
//! first. Plain threads rather than Tokio tasks: Tokio's timers are millisecond-grained, and a
//! thread with its timer slack set to 1 ns (`PR_SET_TIMERSLACK`) wakes within tens of
//! microseconds of its deadline, without spinning (a spinning proxy would take a core from the
//! two processes being measured); each thread also aims its waits early by how late they have
//! lately ended, so that on a busy machine data still leaves on time on average. The report
//! gives the median `PING` time through the proxy beside the round trip asked for. Data is never reordered, and what is read together leaves
//! together, as on a network link whose bandwidth is not the limit.
//!
//! A network delivers on time however busy the hosts at its ends are; a proxy thread that
//! must wait for a core does not. So the threads ask for real-time priority (`SCHED_FIFO`, the
//! lowest level: they preempt the measured processes only to send or read, and never spin),
//! and the proxy records how late each send left after its due time, which the report prints
//! under load. The due time is stamped when the proxy reads the data, so time data waited
//! before the thread read it is not counted, and an early send counts as on time: the figure
//! is a lower bound on the delay added beyond the round trip asked for. Without the permission (`CAP_SYS_NICE`) the
//! threads run at normal priority and the report says so.

use std::collections::VecDeque;
use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use crate::probe::Percentiles;

/// Bytes read at once from either side.
const CHUNK: usize = 64 * 1024;

/// The most a sleep's lateness counts toward aiming the next one early.
const MAX_LATE: Duration = Duration::from_micros(300);

/// A running proxy; stops accepting when dropped (open connections end with their clients).
#[derive(Debug)]
pub(crate) struct DelayProxy {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    sends: Arc<Sends>,
}

/// What the proxy's threads report about their sends.
#[derive(Debug, Default)]
struct Sends {
    /// How late each send left after its due time (zero for one that left on time or early),
    /// towards the server (0) and back towards the client (1).
    late: [Mutex<Vec<Duration>>; 2],
    /// Threads started.
    threads: AtomicUsize,
    /// True once a thread was refused real-time priority.
    refused: AtomicBool,
}

impl DelayProxy {
    /// Listens on a free loopback port and forwards every connection to `upstream`, each byte
    /// delayed by `round_trip / 2` on the way there and again on the way back.
    pub(crate) fn start(upstream: SocketAddr, round_trip: Duration) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the delay proxy");
        let addr = listener.local_addr().expect("the delay proxy's address");
        let stop = Arc::new(AtomicBool::new(false));
        let sends = Arc::new(Sends::default());
        let one_way = round_trip / 2;
        let stopping = stop.clone();
        let reporting = sends.clone();
        thread::Builder::new()
            .name("delay-proxy".into())
            .spawn(move || {
                for client in listener.incoming() {
                    if stopping.load(Ordering::Relaxed) {
                        break;
                    }
                    let Ok(client) = client else { continue };
                    match TcpStream::connect(upstream) {
                        Ok(server) => link(client, server, one_way, &reporting),
                        Err(error) => eprintln!("delay proxy: cannot reach {upstream}: {error}"),
                    }
                }
            })
            .expect("spawn the delay proxy");
        Self { addr, stop, sends }
    }

    /// The port clients connect to.
    pub(crate) fn port(&self) -> u16 {
        self.addr.port()
    }

    /// How late the sends so far left after their due times.
    pub(crate) fn lateness(&self) -> Percentiles {
        let [there, back] = &self.sends.late;
        let mut late = there.lock().expect("proxy lateness").clone();
        late.extend_from_slice(&back.lock().expect("proxy lateness"));
        Percentiles::of(late)
    }

    /// Whether some thread ran, and every one at real-time priority.
    pub(crate) fn realtime(&self) -> bool {
        self.sends.threads.load(Ordering::Relaxed) > 0
            && !self.sends.refused.load(Ordering::Relaxed)
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
fn link(client: TcpStream, server: TcpStream, one_way: Duration, sends: &Arc<Sends>) {
    for stream in [&client, &server] {
        let _ = stream.set_nodelay(true);
    }
    let (client_in, server_in) = (
        client.try_clone().expect("clone a socket"),
        server.try_clone().expect("clone a socket"),
    );
    forward(client_in, server, one_way, sends.clone(), 0);
    forward(server_in, client, one_way, sends.clone(), 1);
}

/// Copies `from` to `to` on a thread of its own, each read held until `one_way` after it was
/// read, its sends' lateness recorded as way `way` of [`Sends::late`]; when `from` ends, `to`'s sending side is shut down once everything read before has
/// been sent.
///
/// One thread per direction waits in `ppoll` for whichever comes first, data to read or the
/// next held read's time to leave (a nanosecond timeout; `poll`'s is in milliseconds). A reader
/// thread handing reads to a sleeping writer would wake two threads per read where this wakes
/// one, and on two cores every wake-up the proxy causes is taken from the processes measured.
fn forward(
    mut from: TcpStream,
    mut to: TcpStream,
    one_way: Duration,
    sends: Arc<Sends>,
    way: usize,
) {
    thread::spawn(move || {
        precise_sleeps();
        if !realtime() {
            sends.refused.store(true, Ordering::Relaxed);
        }
        sends.threads.fetch_add(1, Ordering::Relaxed);
        let mut held: VecDeque<(Instant, Vec<u8>)> = VecDeque::new();
        let mut buf = vec![0u8; CHUNK];
        let mut open = true;
        // How late waits for a send have lately ended, on average (weight 1/8): each aims that
        // much early, so that sends leave on time on average however busy the machine is.
        let mut late = Duration::ZERO;
        'forwarding: loop {
            // When a held read is sent: `late` before it is due.
            let aim = |due: &Instant| due.checked_sub(late).unwrap_or(*due);
            while let Some((due, _)) = held.front() {
                if aim(due) > Instant::now() {
                    break;
                }
                let (due, bytes) = held.pop_front().expect("a held read");
                if to.write_all(&bytes).is_err() {
                    break 'forwarding;
                }
                let over = Instant::now().saturating_duration_since(due);
                sends.late[way].lock().expect("proxy lateness").push(over);
            }
            let next = held.front().map(|(due, _)| aim(due));
            if !open {
                match next {
                    Some(aim) => thread::sleep(aim.saturating_duration_since(Instant::now())),
                    None => break,
                }
                continue;
            }
            let wait = next.map(|aim| (aim, aim.saturating_duration_since(Instant::now())));
            if readable(&from, wait.map(|(_, wait)| wait)) {
                match from.read(&mut buf) {
                    Ok(0) | Err(_) => open = false,
                    Ok(n) => held.push_back((Instant::now() + one_way, buf[..n].to_vec())),
                }
            } else if let Some((aim, _)) = wait.filter(|(_, wait)| !wait.is_zero()) {
                // Only a real wait for a send says how late waits end (not one that was
                // already due, which measures the sends and reads before it).
                let over = Instant::now().saturating_duration_since(aim).min(MAX_LATE);
                late = late - late / 8 + over / 8;
            }
        }
        let _ = from.shutdown(Shutdown::Read);
        let _ = to.shutdown(Shutdown::Write);
    });
}

/// Waits until `stream` has data (or has ended), for at most `timeout` (`None`: as long as it
/// takes); true when it is readable.
fn readable(stream: &TcpStream, timeout: Option<Duration>) -> bool {
    let mut fd = libc::pollfd {
        fd: stream.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    let limit = timeout.map(|t| libc::timespec {
        tv_sec: t.as_secs() as libc::time_t,
        tv_nsec: t.subsec_nanos() as libc::c_long,
    });
    let limit_ptr = limit
        .as_ref()
        .map_or(std::ptr::null(), |t| t as *const libc::timespec);
    // SAFETY: one valid pollfd, a timespec that outlives the call or null (no limit), and no
    // signal mask.
    let ready = unsafe { libc::ppoll(&mut fd, 1, limit_ptr, std::ptr::null()) };
    // An interrupted wait counts as a timeout: the loop looks again.
    ready > 0
}

/// Puts this thread at the lowest real-time priority (`SCHED_FIFO`); false when refused.
fn realtime() -> bool {
    let param = libc::sched_param { sched_priority: 1 };
    // SAFETY: a valid sched_param for pid 0, this thread.
    unsafe { libc::sched_setscheduler(0, libc::SCHED_FIFO, &param) == 0 }
}

/// Makes this thread's sleeps end as close to their deadline as the kernel can (the default
/// slack lets a sleep end up to 50 µs late, a tenth of the smallest delay measured).
fn precise_sleeps() {
    // SAFETY: PR_SET_TIMERSLACK takes one integer argument and changes only this thread.
    unsafe {
        libc::prctl(libc::PR_SET_TIMERSLACK, 1 as libc::c_ulong, 0, 0, 0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A server that sends back whatever it reads until its client ends.
    fn echo_server() -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the echo server");
        let addr = listener.local_addr().expect("the echo server's address");
        thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                thread::spawn(move || {
                    let mut copy = stream.try_clone().expect("clone a socket");
                    let _ = std::io::copy(&mut stream, &mut copy);
                    let _ = copy.shutdown(Shutdown::Write);
                });
            }
        });
        addr
    }

    #[test]
    fn bytes_come_back_whole_and_in_order_after_about_the_round_trip() {
        let round_trip = Duration::from_millis(20);
        let proxy = DelayProxy::start(echo_server(), round_trip);
        let mut client = TcpStream::connect(("127.0.0.1", proxy.port())).expect("connect");
        // More than one read's worth, in writes of uneven sizes.
        let sent: Vec<u8> = (0..300_000u32).map(|n| (n % 251) as u8).collect();
        let mut reader = client.try_clone().expect("clone a socket");
        // A proxy that stopped passing the end on fails the test rather than hanging it.
        reader
            .set_read_timeout(Some(Duration::from_secs(10)))
            .expect("set a read timeout");
        let started = Instant::now();
        let echoed = thread::spawn(move || {
            let mut first_at = None;
            let mut got = Vec::new();
            let mut buf = vec![0u8; 8192];
            loop {
                match reader.read(&mut buf).expect("read the echo") {
                    0 => break,
                    n => {
                        first_at.get_or_insert_with(|| started.elapsed());
                        got.extend_from_slice(&buf[..n]);
                    }
                }
            }
            (got, first_at.expect("something came back"))
        });
        for piece in sent.chunks(7_777) {
            client.write_all(piece).expect("write through the proxy");
        }
        client
            .shutdown(Shutdown::Write)
            .expect("end the client's side");
        let (got, first_after) = echoed.join().expect("the reader");
        assert!(
            got == sent,
            "{} bytes back of {}, or out of order",
            got.len(),
            sent.len()
        );
        // Each way aims early by at most MAX_LATE: no sooner than the round trip less that.
        let floor = round_trip - 2 * MAX_LATE;
        assert!(
            first_after >= floor,
            "the first bytes came back after {first_after:?}, under {floor:?}"
        );
        // Sends were timed against their due times, each way.
        for (way, late) in ["to the server", "back"].iter().zip(&proxy.sends.late) {
            let timed = late.lock().expect("proxy lateness").len();
            assert!(timed >= 1, "no send {way} was timed");
        }
        assert_eq!(proxy.sends.threads.load(Ordering::Relaxed), 2);
    }
}
