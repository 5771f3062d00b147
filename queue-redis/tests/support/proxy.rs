//! A TCP fault proxy for tests: sits between a client and a real server and, on command,
//! delays traffic, stalls it while keeping every connection open (a partition, as a silent
//! network cut looks to both ends), resets connections, or heals.
//!
//! It runs on a thread and runtime of its own, so it keeps working while the test's runtime is
//! blocked. Bytes are never dropped or reordered: a stalled connection delivers what it holds
//! once healed, as TCP does after a partition ends. A connection can instead be cut for good
//! ([`FaultProxy::heal_dropping_open`]): it stays open and silent forever, as after a NAT or
//! firewall forgot it, while new connections work. Or a request can be let through and its
//! reply lost ([`FaultProxy::cut_after_requests_with`]): the server runs it, and the client
//! sees its connection reset before any answer.

use std::net::{SocketAddr, TcpListener as StdListener};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::AbortHandle;

/// What the proxy does with traffic right now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Faults {
    /// Hold every byte (and new connections' upstream connects) until healed.
    stalled: bool,
    /// Added before each chunk is forwarded.
    delay: Duration,
    /// Connections numbered below this are silent forever.
    dead_below: u64,
    /// Where new connections go: `127.0.0.1:<target>`.
    target: u16,
}

#[derive(Debug, Default)]
struct Connections {
    next: u64,
    /// Each open connection's number and task, for resets.
    open: Vec<(u64, AbortHandle)>,
}

/// Bytes whose passing from the server to a client stalls the proxy right after (see
/// [`FaultProxy::partition_after_reply_with`]).
type Trigger = Arc<Mutex<Option<Vec<u8>>>>;

/// Bytes whose passing from a client to the server ends that connection right after, before
/// any reply (see [`FaultProxy::cut_after_requests_with`]).
type Cut = Arc<Mutex<Option<Vec<u8>>>>;

/// A running proxy; stopped (every connection closed) when dropped.
#[derive(Debug)]
pub struct FaultProxy {
    port: u16,
    faults: Arc<watch::Sender<Faults>>,
    trigger: Trigger,
    cut: Cut,
    connections: Arc<Mutex<Connections>>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl FaultProxy {
    /// Starts a proxy on a free local port forwarding to `127.0.0.1:target_port`.
    pub fn start(target_port: u16) -> Self {
        let listener = StdListener::bind("127.0.0.1:0").expect("bind the fault proxy");
        listener
            .set_nonblocking(true)
            .expect("nonblocking listener");
        let port = listener.local_addr().expect("proxy address").port();
        let (faults, watcher) = watch::channel(Faults {
            stalled: false,
            delay: Duration::ZERO,
            dead_below: 0,
            target: target_port,
        });
        let faults = Arc::new(faults);
        let trigger: Trigger = Arc::default();
        let cut: Cut = Arc::default();
        let connections = Arc::new(Mutex::new(Connections::default()));
        let (stop, stopped) = tokio::sync::oneshot::channel();
        let shared = connections.clone();
        let (stalls, armed, cuts) = (faults.clone(), trigger.clone(), cut.clone());
        let thread = std::thread::Builder::new()
            .name(format!("fault-proxy-{port}"))
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("proxy runtime");
                runtime.block_on(async move {
                    let listener = TcpListener::from_std(listener).expect("tokio listener");
                    tokio::select! {
                        _ = stopped => {}
                        _ = accept_loop(listener, watcher, shared.clone(), stalls, armed, cuts) => {}
                    }
                    for (_, task) in shared.lock().unwrap().open.drain(..) {
                        task.abort();
                    }
                });
            })
            .expect("start the proxy thread");
        Self {
            port,
            faults,
            trigger,
            cut,
            connections,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    /// The port clients connect to.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `redis://127.0.0.1:<proxy port>/0`
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    /// Stops forwarding in both directions while keeping every connection open; connections
    /// opened meanwhile are accepted and held too. Nothing is lost: [`heal`](Self::heal)
    /// delivers what was held.
    pub fn partition(&self) {
        self.faults.send_modify(|f| f.stalled = true);
    }

    /// Partitions (as [`partition`](Self::partition)) right after forwarding, from the server
    /// to a client, a chunk that holds `bytes`: a cut at a chosen step of a conversation.
    pub fn partition_after_reply_with(&self, bytes: &[u8]) {
        *self.trigger.lock().unwrap() = Some(bytes.to_vec());
    }

    /// From now on, every connection that forwards to the server a chunk holding `bytes` is
    /// closed right after, its reply never forwarded (the client's side with a reset): the
    /// server runs the request, and its client cannot know. `None` stops cutting.
    pub fn cut_after_requests_with(&self, bytes: Option<&[u8]>) {
        *self.cut.lock().unwrap() = bytes.map(<[u8]>::to_vec);
    }

    /// Forwards again, delivering what was held.
    pub fn heal(&self) {
        self.faults.send_modify(|f| f.stalled = false);
    }

    /// Forwards again for new connections only: the connections open now stay open and silent
    /// for good (a NAT or firewall that forgot them), so their owners must notice and replace
    /// them.
    pub fn heal_dropping_open(&self) {
        let next = self.connections.lock().unwrap().next;
        self.faults.send_modify(|f| {
            f.stalled = false;
            f.dead_below = next;
        });
    }

    /// Delays every chunk of traffic by `delay` (zero to stop delaying).
    pub fn delay(&self, delay: Duration) {
        self.faults.send_modify(|f| f.delay = delay);
    }

    /// Sends connections opened from now on to `127.0.0.1:<target_port>` (a failover behind a
    /// stable address); open connections keep their server.
    pub fn retarget(&self, target_port: u16) {
        self.faults.send_modify(|f| f.target = target_port);
    }

    /// Closes every open connection at once (both sockets dropped, the client's with a reset).
    pub fn reset(&self) {
        for (_, task) in self.connections.lock().unwrap().open.drain(..) {
            task.abort();
        }
    }

    /// How many connections are open through the proxy.
    pub fn open_connections(&self) -> usize {
        self.connections.lock().unwrap().open.len()
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

async fn accept_loop(
    listener: TcpListener,
    faults: watch::Receiver<Faults>,
    connections: Arc<Mutex<Connections>>,
    stalls: Arc<watch::Sender<Faults>>,
    trigger: Trigger,
    cut: Cut,
) {
    loop {
        let Ok((client, _)) = listener.accept().await else {
            continue;
        };
        let _ = client.set_nodelay(true);
        // A reset must reach the client as one: close with RST rather than FIN. (The
        // deprecation warns of blocking on drop, which a zero linger does not do.)
        #[allow(deprecated)]
        let _ = client.set_linger(Some(Duration::ZERO));
        let mut open = connections.lock().unwrap();
        let number = open.next;
        open.next += 1;
        let faults = faults.clone();
        let shared = connections.clone();
        let armed = (stalls.clone(), trigger.clone());
        let cut = cut.clone();
        let task = tokio::spawn(async move {
            serve(client, number, faults, armed, cut).await;
            shared.lock().unwrap().open.retain(|(n, _)| *n != number);
        });
        open.open.push((number, task.abort_handle()));
    }
}

/// Connects upstream (once the proxy is not stalled) and pumps both directions; replies that
/// hold the armed trigger's bytes stall the proxy once forwarded, requests that hold the cut's
/// bytes end the connection once forwarded.
async fn serve(
    client: TcpStream,
    number: u64,
    mut faults: watch::Receiver<Faults>,
    armed: (Arc<watch::Sender<Faults>>, Trigger),
    cut: Cut,
) {
    if !passable(&mut faults, number).await {
        return;
    }
    let target: SocketAddr = ([127, 0, 0, 1], faults.borrow().target).into();
    let Ok(upstream) = TcpStream::connect(target).await else {
        return;
    };
    let _ = upstream.set_nodelay(true);
    let (client_read, client_write) = client.into_split();
    let (up_read, up_write) = upstream.into_split();
    let up = pump(
        client_read,
        up_write,
        number,
        faults.clone(),
        Reaction::Cut(cut),
    );
    let down = pump(
        up_read,
        client_write,
        number,
        faults,
        Reaction::Stall(armed),
    );
    // Either side closing ends the connection.
    tokio::select! {
        _ = up => {}
        _ = down => {}
    }
}

/// What a pump does after forwarding a chunk that holds chosen bytes.
enum Reaction {
    /// Stalls the proxy (and disarms the trigger): replies.
    Stall((Arc<watch::Sender<Faults>>, Trigger)),
    /// Ends the connection: requests.
    Cut(Cut),
}

/// Whether `chunk` holds `bytes`.
fn holds(chunk: &[u8], bytes: &[u8]) -> bool {
    chunk.windows(bytes.len()).any(|w| w == bytes)
}

/// Copies `from` to `to`, each chunk waiting until the proxy lets it through, reacting as
/// `reaction` says to a chunk that holds its bytes; returns when either side closes, or after a
/// cut.
async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    number: u64,
    mut faults: watch::Receiver<Faults>,
    reaction: Reaction,
) {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        if !passable(&mut faults, number).await {
            return;
        }
        let delay = faults.borrow().delay;
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        if to.write_all(&buf[..n]).await.is_err() {
            return;
        }
        match &reaction {
            Reaction::Stall((stalls, trigger)) => {
                let mut trigger = trigger.lock().unwrap();
                if trigger
                    .as_ref()
                    .is_some_and(|bytes| holds(&buf[..n], bytes))
                {
                    *trigger = None;
                    stalls.send_modify(|f| f.stalled = true);
                }
            }
            Reaction::Cut(cut) => {
                let hit = cut
                    .lock()
                    .unwrap()
                    .as_ref()
                    .is_some_and(|b| holds(&buf[..n], b));
                if hit {
                    // The request reaches the server whole (FIN after it); the client gets a
                    // reset and none of the reply.
                    let _ = to.flush().await;
                    return;
                }
            }
        }
    }
}

/// Waits until connection `number` may forward; false only when the proxy stops. A connection
/// cut for good waits forever (until reset or the proxy stops).
async fn passable(faults: &mut watch::Receiver<Faults>, number: u64) -> bool {
    loop {
        {
            let f = *faults.borrow_and_update();
            if !f.stalled && number >= f.dead_below {
                return true;
            }
        }
        if faults.changed().await.is_err() {
            return false;
        }
    }
}
