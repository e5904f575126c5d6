//! The web UI in headless Chromium, driven over WebDriver: on the tokio
//! demo, see the named tasks, filter, cancel the task with "cancel" in its
//! name after confirming, and find it in the terminated tab; see its spawn
//! sites, sorted; on monitor-app's aio example, pause a schedule and emit
//! a signal from the app page.
//!
//! Needs `chromium` and `chromedriver` on the PATH (Debian: `chromium`,
//! `chromium-driver`), the demo binary in `MONITOR_DEMO_BIN` and the aio
//! example in `MONITOR_APP_BIN` (both built by `.ci/run`). Screenshots go
//! to `docs/`.
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

/// Starts `binary` with `args`, reads the web UI's address from the line
/// it prints starting with `prefix` (`Web UI: http://`), and hands on every
/// further line of its output.
fn start_process(
    binary: &std::ffi::OsStr,
    args: &[&str],
    prefix: &'static str,
) -> (Process, SocketAddr, mpsc::Receiver<String>) {
    let mut child = Command::new(binary)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap_or_else(|err| panic!("start {binary:?}: {err}"));
    let stdout = child.stdout.take().unwrap();
    let process = Process(child);
    let (found, address) = mpsc::channel();
    let (lines_out, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(rest) = line.strip_prefix(prefix) {
                let addr = rest.split('/').next().unwrap().parse::<SocketAddr>();
                let _ = found.send(addr.expect("a socket address after the prefix"));
            }
            let _ = lines_out.send(line);
        }
    });
    let addr = address
        .recv_timeout(Duration::from_secs(30))
        .unwrap_or_else(|_| panic!("{binary:?} did not print {prefix:?}"));
    (process, addr, lines)
}

/// Starts the demo with free ports and reads its web UI's address from
/// what it prints.
fn start_demo() -> (Process, SocketAddr) {
    let binary = std::env::var_os("MONITOR_DEMO_BIN").expect(
        "MONITOR_DEMO_BIN must name the tokio demo binary (cargo build -p monitor-tokio \
         --example demo); .ci/run sets it",
    );
    let (process, addr, _lines) = start_process(
        &binary,
        &["--port", "0", "--http-port", "0"],
        "Web UI: http://",
    );
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
    wait_for_url(&client, "filter=cancel").await;
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

/// Waits until the browser's URL contains `part` (a click only starts a
/// navigation).
async fn wait_for_url(client: &Client, part: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let url = client.current_url().await.unwrap();
        if url.as_str().contains(part) {
            return;
        }
        assert!(Instant::now() < deadline, "never reached {part}: at {url}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until `#outcome` says something containing `text` (the page
/// before a POST may have an outcome of its own).
async fn outcome_with(client: &Client, text: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Ok(outcome) = client.find(Locator::Id("outcome")).await
            && let Ok(said) = outcome.text().await
            && said.contains(text)
        {
            return said;
        }
        assert!(
            Instant::now() < deadline,
            "no outcome saying {text:?} in {}",
            client.source().await.unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "current_thread")]
async fn tokio_demo_sites_sorted_and_lints() {
    let (_demo, addr) = start_demo();
    let (_driver, driver_port) = start_chromedriver();
    let profile = std::env::temp_dir().join(format!("browser-tests-sites-{}", std::process::id()));
    let client = browser(driver_port, &profile).await;
    let base = format!("http://{addr}");

    // The demo's ticker is one spawn site of its source, shown by name.
    client.goto(&format!("{base}/sites")).await.unwrap();
    let ticker = row_with(&client, "#sites tbody tr", "ticker").await;
    let location = ticker.attr("data-location").await.unwrap().unwrap();
    assert!(location.contains("demo.rs:"), "{location}");
    let live = ticker.find(Locator::Css("td.live")).await.unwrap();
    assert_eq!(live.text().await.unwrap(), "1");

    // Sorting by a header: most spawned first.
    client
        .find(Locator::Css("th a[href='/sites?sort=spawned']"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_for_url(&client, "sort=spawned").await;
    row_with(&client, "#sites tbody tr", "ticker").await;
    let mut spawned = Vec::new();
    for cell in client
        .find_all(Locator::Css("#sites td.spawned"))
        .await
        .unwrap()
    {
        spawned.push(cell.text().await.unwrap().parse::<u64>().unwrap());
    }
    assert!(spawned.len() >= 4, "{spawned:?}");
    assert!(
        spawned.windows(2).all(|pair| pair[0] >= pair[1]),
        "not sorted by spawned: {spawned:?}"
    );
    let screenshot = client.screenshot().await.unwrap();
    std::fs::write(docs_dir().join("web-ui-sites.png"), screenshot).unwrap();

    // The site links to its live tasks.
    let ticker = row_with(&client, "#sites tbody tr", "ticker").await;
    ticker
        .find(Locator::Css("td a"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_for_url(&client, "filter=").await;
    let names = names_shown(&client).await;
    assert_eq!(names, ["ticker"]);

    // The lints page answers with what fires now (or says nothing does).
    client.goto(&format!("{base}/lints")).await.unwrap();
    client
        .wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Id("lints"))
        .await
        .unwrap();

    client.close().await.unwrap();
    let _ = std::fs::remove_dir_all(&profile);
}

#[tokio::test(flavor = "current_thread")]
async fn aio_example_app_page_pause_and_emit() {
    let binary = std::env::var_os("MONITOR_APP_BIN").expect(
        "MONITOR_APP_BIN must name monitor-app's aio example binary (cargo build -p \
         monitor-app --example aio); .ci/run sets it",
    );
    let dir = std::env::temp_dir().join(format!("browser-tests-app-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("aio.toml");
    std::fs::write(
        &config,
        "[app]\nmodules = [\"example.setup\"]\ngrace = \"1s\"\n\
         [schedule.tick]\nevery = \"1h\"\nfunc = \"example.tick\"\n\
         [server.echo]\nprotocol = \"example.echo\"\naddress = \"127.0.0.1\"\nport = 0\n\
         [listen.example]\nexample-signal = \"example.print\"\n\
         [monitor]\nport = 0\nhttp_port = 0\n",
    )
    .unwrap();
    let (_app, addr, lines) = start_process(
        &binary,
        &["-c", config.to_str().unwrap(), "run"],
        "web UI: http://",
    );
    let (_driver, driver_port) = start_chromedriver();
    let client = browser(driver_port, &dir.join("profile")).await;

    client.goto(&format!("http://{addr}/x/app")).await.unwrap();
    let tick = row_with(&client, "#schedules tbody tr", "example.tick").await;
    assert_eq!(
        tick.attr("data-paused").await.unwrap().as_deref(),
        Some("false")
    );
    row_with(&client, "#servers tbody tr", "example.echo").await;

    // Pause: the outcome says so and the row now offers Resume.
    tick.find(Locator::Css("form[action='/x/app/pause'] button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    outcome_with(&client, "schedule tick: paused").await;
    let tick = row_with(&client, "#schedules tbody tr", "example.tick").await;
    assert_eq!(
        tick.attr("data-paused").await.unwrap().as_deref(),
        Some("true")
    );
    tick.find(Locator::Css("form[action='/x/app/resume'] button"))
        .await
        .unwrap();

    // Emit: the listener runs in the app and prints the message.
    let signal = row_with(&client, "#signals tbody tr", "example-signal").await;
    signal
        .find(Locator::Css("input[name='message']"))
        .await
        .unwrap()
        .send_keys("hello from the browser")
        .await
        .unwrap();
    signal
        .find(Locator::Css("form[action='/x/app/emit'] button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    outcome_with(&client, "example-signal delivered to 1 listener(s)").await;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let line = lines
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .expect("the listener prints the message");
        if line == "example-signal: hello from the browser" {
            break;
        }
    }
    let screenshot = client.screenshot().await.unwrap();
    std::fs::write(docs_dir().join("web-ui-app.png"), screenshot).unwrap();

    client.close().await.unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}
