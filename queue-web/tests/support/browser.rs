//! Headless Chromium driven through WebDriver (chromedriver, started on a free port) with
//! fantoccini; a missing binary fails the test saying how to install it.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;

/// A running chromedriver and a browser session through it; both end on drop.
pub struct Browser {
    pub client: Client,
    driver: Child,
    /// The dashboard's address (`http://127.0.0.1:port`).
    pub base: String,
    /// Where this test's screenshots go.
    pub out: PathBuf,
}

impl std::fmt::Debug for Browser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Browser").field("base", &self.base).finish()
    }
}

/// The path of `name` on `PATH` or in the usual directories.
fn find(name: &str) -> Option<String> {
    std::env::var("PATH")
        .unwrap_or_default()
        .split(':')
        .chain(["/usr/bin", "/usr/local/bin", "/usr/lib/chromium"])
        .map(|dir| PathBuf::from(dir).join(name))
        .find(|p| p.is_file())
        .map(|p| p.to_string_lossy().into_owned())
}

/// A free port for chromedriver, below the kernel's ephemeral range (from 32768 on Linux) so
/// no outgoing connection can take it between this check and chromedriver's bind, and below
/// the Redis test servers' ports (12000 and up).
fn free_port() -> u16 {
    static NEXT: AtomicU16 = AtomicU16::new(0);
    let start = (std::process::id() % 1000) as u16;
    for _ in 0..2000 {
        let port = 10_000 + (start + NEXT.fetch_add(1, Ordering::Relaxed) % 2000) % 2000;
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free port in 10000..12000 for chromedriver")
}

impl Browser {
    /// Starts chromedriver and a headless Chromium session for the dashboard at `dashboard`;
    /// screenshots go to `<target tmp>/browser/<test>/`.
    pub async fn start(dashboard: SocketAddr, test: &str) -> Self {
        let install = "Install it (Debian/Ubuntu: `apt-get install chromium chromium-driver`; \
                       `.ci/run` does it) or set CHROMEDRIVER / CHROME to the binaries";
        let driver_bin = std::env::var("CHROMEDRIVER")
            .ok()
            .or_else(|| find("chromedriver"))
            .unwrap_or_else(|| panic!("chromedriver not found: the browser tests drive Chromium through it. {install}"));
        let chrome_bin = std::env::var("CHROME")
            .ok()
            .or_else(|| find("chromium"))
            .or_else(|| find("chromium-browser"))
            .or_else(|| find("google-chrome"))
            .unwrap_or_else(|| panic!("chromium not found: the browser tests need it. {install}"));
        let port = free_port();
        // Its own process group, so ending it ends the Chromium it started too, even when a
        // test fails before closing its session.
        let driver = Command::new(&driver_bin)
            .process_group(0)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("could not run {driver_bin}: {e}. {install}"));
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "chromedriver did not listen on port {port}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            json!({
                "binary": chrome_bin,
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                         "--window-size=1280,1000", "--force-device-scale-factor=1", "--lang=en-US"],
            }),
        );
        // A chromedriver that listens may still drop its first requests while it starts on a
        // busy machine: a new session is asked for three times before the test fails.
        let mut tries = 0;
        let client = loop {
            let connector = hyper_util::client::legacy::connect::HttpConnector::new();
            match ClientBuilder::new(connector)
                .capabilities(caps.clone())
                .connect(&format!("http://127.0.0.1:{port}"))
                .await
            {
                Ok(client) => break client,
                Err(e) if tries < 2 => {
                    tries += 1;
                    eprintln!("chromedriver refused a session ({e}); asking again");
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
                Err(e) => {
                    panic!("could not start a Chromium session through chromedriver: {e}")
                }
            }
        };
        let out = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
            .join("browser")
            .join(test);
        std::fs::create_dir_all(&out).unwrap();
        Self {
            client,
            driver,
            base: format!("http://{dashboard}"),
            out,
        }
    }

    /// Opens the dashboard page `path`.
    pub async fn open(&self, path: &str) {
        self.client
            .goto(&format!("{}{path}", self.base))
            .await
            .unwrap();
    }

    /// The page's HTML as the browser holds it.
    pub async fn source(&self) -> String {
        self.client.source().await.unwrap()
    }

    /// Clicks the button labelled `label` (trying again if the live refresh replaced it).
    pub async fn press(&self, label: &str) {
        let xpath = format!("//button[normalize-space(.)='{label}']");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let clicked = match self.client.find(Locator::XPath(&xpath)).await {
                Ok(button) => button.click().await.map_err(|e| e.to_string()),
                Err(e) => Err(e.to_string()),
            };
            match clicked {
                Ok(()) => return,
                Err(e) if Instant::now() > deadline => panic!("could not press `{label}`: {e}"),
                Err(_) => tokio::time::sleep(Duration::from_millis(25)).await,
            }
        }
    }

    /// The text of the first element matching `css`, once there is one (up to 30 s; an
    /// element the live refresh replaced meanwhile is looked up again).
    pub async fn text(&self, css: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let text = match self.client.find(Locator::Css(css)).await {
                Ok(el) => el.text().await.map_err(|e| e.to_string()),
                Err(e) => Err(e.to_string()),
            };
            match text {
                Ok(text) => return text,
                Err(e) if Instant::now() > deadline => panic!("no element `{css}`: {e}"),
                Err(_) => tokio::time::sleep(Duration::from_millis(25)).await,
            }
        }
    }

    /// Waits up to 30 s for the first element matching `css` to read `expected`.
    pub async fn wait_text(&self, css: &str, expected: &str) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let text = match self.client.find(Locator::Css(css)).await {
                Ok(el) => el.text().await.unwrap_or_default(),
                Err(_) => String::new(),
            };
            if text == expected {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "`{css}` reads {text:?}, not {expected:?}"
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// Waits up to 30 s for an element matching `css`.
    pub async fn wait_for(&self, css: &str) -> fantoccini::elements::Element {
        self.client
            .wait()
            .at_most(Duration::from_secs(30))
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no element `{css}`: {e}"))
    }

    /// Saves a screenshot of the window as `<name>.png` in the test's folder; returns its path.
    pub async fn screenshot(&self, name: &str) -> PathBuf {
        let png = self.client.screenshot().await.unwrap();
        assert!(png.starts_with(b"\x89PNG"), "a PNG");
        let path = self.out.join(format!("{name}.png"));
        std::fs::write(&path, png).unwrap();
        path
    }

    /// Runs the accessibility and validity check on the current page; fails naming `path`
    /// and every problem found.
    pub async fn check_page(&self, path: &str) {
        let problems = self
            .client
            .execute(super::a11y::CHECK, vec![])
            .await
            .unwrap();
        let problems: Vec<String> = serde_json::from_value(problems).unwrap();
        assert!(problems.is_empty(), "{path}: {problems:#?}");
    }

    /// Ends the session, then chromedriver (on drop).
    pub async fn close(self) {
        let _ = self.client.clone().close().await;
    }
}

impl Drop for Browser {
    /// Ends chromedriver's process group: chromedriver and the browser it started.
    fn drop(&mut self) {
        let group = format!("-{}", self.driver.id());
        let _ = Command::new("kill").args(["-TERM", "--", &group]).status();
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}
