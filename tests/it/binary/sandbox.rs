//! `keyleak sandbox` as a newcomer runs it, and its page in a real browser (Debian's headless
//! Chromium, driven over WebDriver by chromedriver): an incident from contain to close by
//! clicking, as three people, checked on the page and in moto. Stopped with SIGINT, it must
//! leave no process behind.

use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;

use super::{base_command, free_port};
use crate::support::wait_until;

const RIYA: &str = "U0SBXRIYA";
const SAM: &str = "U0SBXSAM";
const ALEX: &str = "U0SBXALEX";

/// The sandbox's page and moto's address, from what it prints when it is up.
struct Started {
    page: String,
    moto: String,
}

/// Reads the child's output until the ready line, keeping moto's address from its log.
fn started(child: &mut Child) -> Started {
    let stderr = child.stderr.take().unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let moto_tx = tx.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            eprintln!("sandbox: {line}");
            if let Some(url) = line.split("AWS (moto) is at ").nth(1) {
                let url = url.split(',').next().unwrap_or_default().to_string();
                let _ = moto_tx.send(("moto", url));
            }
        }
    });
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(url) = line.strip_prefix("sandbox ready at ") {
                let _ = tx.send(("page", url.trim_end_matches('/').to_string()));
            }
        }
    });
    let (mut page, mut moto) = (None, None);
    while page.is_none() || moto.is_none() {
        match rx.recv_timeout(Duration::from_secs(120)) {
            Ok(("page", url)) => page = Some(url),
            Ok((_, url)) => moto = Some(url),
            Err(e) => panic!("the sandbox did not say it was ready: {e}"),
        }
    }
    Started {
        page: page.unwrap(),
        moto: moto.unwrap(),
    }
}

/// The sandbox, stopped as a person stops it (SIGINT) when the test ends however it ends, so
/// that it stops moto too; killed if it does not stop within 20 s.
struct Sandbox(Option<Child>);

impl Sandbox {
    /// SIGINT, and its exit status.
    fn interrupt(&mut self) -> Option<std::process::ExitStatus> {
        let mut child = self.0.take()?;
        unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = child.kill();
        let _ = child.wait();
        None
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        self.interrupt();
    }
}

/// chromedriver in a process group of its own, with the browser it starts: all killed
/// together when the test ends, however it ends.
struct Driver(Child);

impl Drop for Driver {
    fn drop(&mut self) {
        unsafe { libc::killpg(self.0.id() as i32, libc::SIGKILL) };
        let _ = self.0.wait();
    }
}

fn chromedriver(port: u16) -> Driver {
    use std::os::unix::process::CommandExt as _;
    let child = std::process::Command::new("chromedriver")
        .arg(format!("--port={port}"))
        .process_group(0)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromedriver (Debian's chromium-driver; .ci/setup installs it)");
    Driver(child)
}

async fn browser(port: u16) -> Client {
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        json!({"args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                        "--disable-dev-shm-usage", "--window-size=1400,1000"]}),
    );
    let connector = hyper_util::client::legacy::connect::HttpConnector::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match ClientBuilder::new(connector.clone())
            .capabilities(caps.clone())
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
        {
            Ok(c) => return c,
            Err(e) if Instant::now() < deadline => {
                eprintln!("waiting for chromedriver: {e}");
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
            Err(e) => panic!("no browser session: {e}"),
        }
    }
}

/// The page's text, as a person reads it.
async fn page_text(c: &Client) -> String {
    c.execute("return document.body.innerText", vec![])
        .await
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

async fn wait_for_text(c: &Client, needle: &str) {
    let found = wait_until(Duration::from_secs(90), || async {
        page_text(c).await.contains(needle).then_some(())
    })
    .await;
    assert!(
        found.is_some(),
        "the page never showed {needle:?}:\n{}",
        page_text(c).await
    );
}

/// Clicks the element `xpath` finds, once it is there: the page redraws what changed, so a
/// found element can go stale before the click, and is found again.
async fn click(c: &Client, xpath: &str) {
    let clicked = wait_until(Duration::from_secs(60), || async {
        let e = c.find(Locator::XPath(xpath)).await.ok()?;
        e.click().await.ok()
    })
    .await;
    assert!(
        clicked.is_some(),
        "nothing to click at {xpath}:\n{}",
        page_text(c).await
    );
}

/// Presses a button, and accepts its confirm dialog when it has one, as a person would.
async fn press(c: &Client, xpath: &str) {
    click(c, xpath).await;
    let _ = wait_until(Duration::from_secs(2), || async {
        let ok = c
            .find(Locator::Css("dialog[open] #confirm-ok"))
            .await
            .ok()?;
        ok.click().await.ok()
    })
    .await;
}

/// Switches the page to `user`, and waits until it shows what they see.
async fn act_as(c: &Client, user: &str) {
    click(
        c,
        &format!("//select[@id='person']/option[@value='{user}']"),
    )
    .await;
    let shown = wait_until(Duration::from_secs(30), || async {
        let css = format!("body[data-person='{user}']");
        c.find(Locator::Css(&css)).await.ok().map(drop)
    })
    .await;
    assert!(shown.is_some(), "the page never showed {user}'s view");
}

/// The button `action` of the thread reply that says `says`.
fn button_of(says: &str, action: &str) -> String {
    format!(
        "//div[@class='thread']/div[@class='message'][contains(., \"{says}\")]\
         //button[@data-action-id='{action}']"
    )
}

/// How many private answers the page shows the person acting.
async fn answers(c: &Client) -> usize {
    c.find_all(Locator::Css(".ephemeral"))
        .await
        .map_or(0, |a| a.len())
}

/// Approves the proposal that says `says` as both approvers; the requester may not.
async fn approve_as_both(c: &Client, says: &str) {
    for who in [SAM, ALEX] {
        act_as(c, who).await;
        let before = answers(c).await;
        press(c, &button_of(says, "proposal.approve")).await;
        let answered = wait_until(Duration::from_secs(60), || async {
            (answers(c).await > before).then_some(())
        })
        .await;
        assert!(answered.is_some(), "no answer to {who}'s approval");
    }
}

async fn say(c: &Client, text: &str) {
    let input = c.find(Locator::Css("#say")).await.unwrap();
    input.send_keys(text).await.unwrap();
    c.find(Locator::Css("#composer button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
}

async fn user_exists(moto: &str, user: &str) -> bool {
    let iam = aws_sdk_iam::Client::new(&crate::support::aws_through(moto).await);
    iam.get_user().user_name(user).send().await.is_ok()
}

/// What the page shows, as its own script reads it.
async fn state_of(page: &str) -> Option<serde_json::Value> {
    let answer = reqwest::get(format!("{page}/sandbox/state")).await.ok()?;
    answer.json().await.ok()
}

/// The children of `pid`, from /proc.
fn children_of(pid: u32) -> Vec<u32> {
    let mut out = vec![];
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(child) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let stat = std::fs::read_to_string(entry.path().join("stat")).unwrap_or_default();
        // `pid (comm) state ppid …`: the name may hold spaces, so count after its `)`.
        let ppid = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(1))
            .and_then(|p| p.parse::<u32>().ok());
        if ppid == Some(pid) {
            out.push(child);
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn the_sandbox_page_runs_an_incident_in_a_browser_and_sigint_stops_everything() {
    let mut sandbox = base_command()
        .args(["sandbox", "--port", "0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let up = started(&mut sandbox);
    let pid = sandbox.id();
    let mut sandbox = Sandbox(Some(sandbox));
    let driver_port = free_port();
    let _driver = chromedriver(driver_port);
    let c = browser(driver_port).await;
    c.goto(&format!("{}/", up.page)).await.unwrap();
    wait_for_text(&c, "Contain it:").await;
    let state = state_of(&up.page).await.unwrap();
    let scenario = state["scenario"].as_str().unwrap();
    let at = scenario.find("/keyleak contain ").unwrap();
    let command = scenario[at..].trim_end_matches('`').to_string();
    assert!(user_exists(&up.moto, "svc-backup").await);

    say(&c, &command).await;
    wait_for_text(&c, "Only visible to you").await;
    click(
        &c,
        "//button[contains(@class,'channel')][contains(., 'ci-deploy')]",
    )
    .await;
    wait_for_text(&c, "Forensics for").await;
    wait_for_text(&c, "Delete IAM user svc-backup").await;

    // The requester cannot approve her own; the two approvers can, and do.
    press(
        &c,
        &button_of("Delete IAM user svc-backup", "proposal.approve"),
    )
    .await;
    wait_for_text(&c, "so you cannot approve it").await;
    assert!(user_exists(&up.moto, "svc-backup").await);
    approve_as_both(&c, "Delete IAM user svc-backup").await;
    let gone = wait_until(Duration::from_secs(60), || async {
        (!user_exists(&up.moto, "svc-backup").await).then_some(())
    })
    .await;
    assert!(gone.is_some(), "svc-backup is still in moto");

    act_as(&c, RIYA).await;
    press(&c, "//button[@data-action-id='incident.restore']").await;
    approve_as_both(&c, "remove the deny-all").await;
    let lifted = wait_until(Duration::from_secs(60), || async {
        (!deny_all_on(&up.moto, "ci-deploy").await).then_some(())
    })
    .await;
    assert!(lifted.is_some(), "the deny-all is still on ci-deploy");

    act_as(&c, RIYA).await;
    press(&c, "//button[@data-action-id='incident.report']").await;
    wait_for_text(&c, "-report.md").await;
    let chart = wait_until(Duration::from_secs(30), || async {
        let img = c.find(Locator::Css(".file img")).await.ok()?;
        let loaded = c
            .execute("return arguments[0].naturalWidth", vec![json!(img)])
            .await
            .ok()?;
        (loaded.as_u64()? > 0).then_some(())
    })
    .await;
    assert!(chart.is_some(), "the report's chart is not shown inline");
    let report = c
        .find(Locator::XPath(
            "//div[@class='file'][contains(., '-report.md')]",
        ))
        .await
        .unwrap();
    c.execute(
        "arguments[0].scrollIntoView({block: 'start'})",
        vec![json!(report)],
    )
    .await
    .unwrap();
    let shot = std::env::temp_dir().join("keyleak-sandbox-report.png");
    std::fs::write(&shot, c.screenshot().await.unwrap()).unwrap();
    eprintln!(
        "screenshot of the sandbox after the report: {}",
        shot.display()
    );

    press(&c, "//button[@data-action-id='incident.close']").await;
    wait_for_text(&c, "— closed").await;
    c.close().await.unwrap();

    // Ctrl-C: the sandbox stops moto and itself, and leaves no process behind.
    let peers = children_of(pid);
    assert!(!peers.is_empty(), "moto runs as the sandbox's child");
    let exit = tokio::task::spawn_blocking(move || sandbox.interrupt())
        .await
        .unwrap()
        .expect("the sandbox stops within 20 s of SIGINT");
    assert!(exit.success(), "{exit}");
    for p in peers {
        assert!(
            !std::path::Path::new(&format!("/proc/{p}")).exists(),
            "process {p} outlived the sandbox"
        );
    }
}

async fn deny_all_on(moto: &str, user: &str) -> bool {
    let iam = aws_sdk_iam::Client::new(&crate::support::aws_through(moto).await);
    let names = iam
        .list_user_policies()
        .user_name(user)
        .send()
        .await
        .unwrap()
        .policy_names;
    names.iter().any(|n| n.starts_with("keyleak-deny-all"))
}

#[tokio::test]
async fn the_health_scenario_contains_the_key_with_no_one_typing() {
    let mut sandbox = base_command()
        .args(["sandbox", "--port", "0", "--scenario", "health"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let up = started(&mut sandbox);
    let mut sandbox = Sandbox(Some(sandbox));
    let contained = wait_until(Duration::from_secs(60), || async {
        let state = state_of(&up.page).await?;
        let said = state["messages"].to_string();
        let contained = said.contains("AWS Health") && deny_all_on(&up.moto, "ci-deploy").await;
        contained.then_some(())
    })
    .await;
    assert!(
        contained.is_some(),
        "no incident was contained on AWS Health's word"
    );
    let exit = tokio::task::spawn_blocking(move || sandbox.interrupt())
        .await
        .unwrap();
    assert!(exit.is_some_and(|e| e.success()), "{exit:?}");
}
