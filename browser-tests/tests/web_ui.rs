//! The tokio demo's web UI in headless Chromium, driven over WebDriver:
//! see the named tasks, filter, cancel the task with "cancel" in its name
//! after confirming, and find it in the terminated tab.
//!
//! Needs `chromium` and `chromedriver` on the PATH (Debian: `chromium`,
//! `chromium-driver`) and the demo binary in `MONITOR_DEMO_BIN` (built by
//! `.ci/run`). Screenshots go to `docs/`.
#![cfg(feature = "browser")]

use std::{
    io::{BufRead, BufReader},
    net::{SocketAddr, TcpListener, TcpStream},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::mpsc,
    time::{Duration, Instant},
};

use fantoccini::{Client, ClientBuilder, Locator, elements::Element};

/// A child process that is killed (and reaped) when dropped.
struct Process(Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts the demo with free ports and reads its web UI's address from
/// what it prints.
fn start_demo() -> (Process, SocketAddr) {
    let binary = std::env::var_os("MONITOR_DEMO_BIN").expect(
        "MONITOR_DEMO_BIN must name the tokio demo binary (cargo build -p monitor-tokio \
         --example demo); .ci/run sets it",
    );
    let mut child = Command::new(binary)
        .args(["--port", "0", "--http-port", "0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start the demo");
    let stdout = child.stdout.take().unwrap();
    let process = Process(child);
    let (found, address) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(rest) = line.strip_prefix("Web UI: http://") {
                let addr = rest.split('/').next().unwrap().parse::<SocketAddr>();
                let _ = found.send(addr.expect("the demo printed a socket address"));
            }
        }
    });
    let addr = address
        .recv_timeout(Duration::from_secs(30))
        .expect("the demo printed its web UI's URL");
    (process, addr)
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Starts chromedriver and waits until it accepts connections.
fn start_chromedriver() -> (Process, u16) {
    let port = free_port();
    let child = Command::new("chromedriver")
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("chromedriver on the PATH (Debian package chromium-driver)");
    let process = Process(child);
    let deadline = Instant::now() + Duration::from_secs(30);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "chromedriver did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    (process, port)
}

async fn browser(driver_port: u16, profile: &Path) -> Client {
    let chrome_options = serde_json::json!({
        "args": [
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--window-size=1280,900",
            format!("--user-data-dir={}", profile.display()),
        ],
    });
    let mut capabilities = serde_json::Map::new();
    capabilities.insert("goog:chromeOptions".into(), chrome_options);
    ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(capabilities)
        .connect(&format!("http://127.0.0.1:{driver_port}"))
        .await
        .expect("a WebDriver session")
}

/// Waits up to 10 s for `css` to match an element whose text contains
/// `text`.
async fn row_with(client: &Client, css: &str, text: &str) -> Element {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        for element in client.find_all(Locator::Css(css)).await.unwrap() {
            // A row may be swapped out by htmx's refresh between the two
            // calls: a stale element just means "look again".
            if element.text().await.is_ok_and(|t| t.contains(text)) {
                return element;
            }
        }
        assert!(
            Instant::now() < deadline,
            "no {css} containing {text:?} in {}",
            client.source().await.unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn names_shown(client: &Client) -> Vec<String> {
    let mut names = Vec::new();
    for cell in client
        .find_all(Locator::Css("#tasks td.name"))
        .await
        .unwrap()
    {
        if let Ok(text) = cell.text().await {
            names.push(text);
        }
    }
    names
}

fn docs_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs")
}

#[tokio::test(flavor = "current_thread")]
async fn tokio_demo_filter_cancel_and_find_it_terminated() {
    let (_demo, addr) = start_demo();
    let (_driver, driver_port) = start_chromedriver();
    let profile = std::env::temp_dir().join(format!("browser-tests-{}", std::process::id()));
    let client = browser(driver_port, &profile).await;
    let base = format!("http://{addr}");

    // The live tab shows the demo's named tasks.
    client.goto(&format!("{base}/")).await.unwrap();
    for name in [
        "ticker",
        "reporter",
        "echo-server",
        "waits-forever (cancel me)",
    ] {
        row_with(&client, "#tasks tbody tr", name).await;
    }
    let screenshot = client.screenshot().await.unwrap();
    std::fs::write(docs_dir().join("web-ui-tasks.png"), screenshot).unwrap();

    // Filter: type into the box and submit the form (a plain GET form, so
    // this is what a browser without JavaScript does too).
    let filter = client.find(Locator::Id("filter")).await.unwrap();
    filter.send_keys("cancel").await.unwrap();
    client
        .find(Locator::Id("apply"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    // A click only starts the navigation: wait for the filtered page
    // before reading rows, or the old page's rows would be read.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let url = client.current_url().await.unwrap();
        if url.as_str().contains("filter=cancel") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the filter did not navigate: {url}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let row = row_with(&client, "#tasks tbody tr", "waits-forever (cancel me)").await;
    let names = names_shown(&client).await;
    assert!(
        names.iter().all(|name| name.contains("cancel")),
        "the filter left {names:?}"
    );

    // Cancel it: the link leads to a confirmation; confirming posts the
    // form, and the next page tells what happened.
    row.find(Locator::Css("a.cancel"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let confirm = client
        .wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Id("confirm-cancel"))
        .await
        .unwrap();
    let heading = client
        .find(Locator::Css("h1"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(heading.contains("waits-forever (cancel me)"), "{heading}");
    confirm.click().await.unwrap();
    // The cancel waits up to a second for the task to stop before the
    // outcome page is sent.
    let outcome = client
        .wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Id("outcome"))
        .await
        .unwrap();
    assert_eq!(
        outcome.attr("data-outcome").await.unwrap().as_deref(),
        Some("cancelled"),
        "{}",
        outcome.text().await.unwrap()
    );
    let state = client.find(Locator::Id("state")).await.unwrap();
    assert_eq!(state.text().await.unwrap(), "cancelled");

    // And it is in the terminated tab (through its link, keeping the filter).
    client
        .goto(&format!("{base}/?filter=cancel"))
        .await
        .unwrap();
    client
        .find(Locator::Id("tab-terminated"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let row = row_with(&client, "#tasks tbody tr", "waits-forever (cancel me)").await;
    let text = row.text().await.unwrap();
    assert!(text.contains("cancelled"), "{text}");
    let screenshot = client.screenshot().await.unwrap();
    std::fs::write(docs_dir().join("web-ui-terminated.png"), screenshot).unwrap();

    client.close().await.unwrap();
    let _ = std::fs::remove_dir_all(&profile);
}
