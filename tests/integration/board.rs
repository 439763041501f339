//! The web board, in a real headless Chromium driven over WebDriver (Debian's `chromium` and
//! `chromium-driver`), against the real server; and its login and guards over plain HTTP.
//!
//! To drop the SSE connection for real, the browser reaches the server through a [`Cable`]
//! (a TCP relay the test can cut and restore) for that part of the test. Visiting a dozen
//! pages in a row is itself a check: before pages closed their stream on `pagehide`,
//! Chromium kept the streams of pages left behind and the seventh page waited a minute for
//! a connection (six per host). Screenshots of every page go to
//! `target/test-artifacts/board/`.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use fantoccini::{Client as Driver, ClientBuilder, Locator};
use serde_json::{Value, json};

use crate::common::{self, PATIENCE, TOKEN, TestServer, call_ok, eventually};

/// A headless Chromium under chromedriver, with a profile of its own.
struct Browser {
    driver: Driver,
    chromedriver: Child,
    _profile: tempfile::TempDir,
    shots: PathBuf,
}

impl Browser {
    async fn start() -> Browser {
        let chromedriver = std::env::var_os("WORKSYNC_CHROMEDRIVER")
            .map(PathBuf::from)
            .or_else(|| common::on_path(&["chromedriver"]))
            .expect("install Debian's chromium-driver (apt-get install chromium-driver) or set WORKSYNC_CHROMEDRIVER");
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let process = Command::new(chromedriver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let profile = tempfile::tempdir().unwrap();
        let args = [
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--window-size=1280,900",
        ]
        .map(String::from)
        .into_iter()
        .chain([format!("--user-data-dir={}", profile.path().display())])
        .collect::<Vec<_>>();
        let capabilities = json!({
            "goog:chromeOptions": { "binary": common::chromium(), "args": args },
        });
        let capabilities = capabilities.as_object().unwrap().clone();
        let url = format!("http://127.0.0.1:{port}");
        let driver = eventually("chromedriver starts a session", PATIENCE, async || {
            let connector = hyper_util::client::legacy::connect::HttpConnector::new();
            ClientBuilder::new(connector).capabilities(capabilities.clone()).connect(&url).await
        })
        .await;
        Browser { driver, chromedriver: process, _profile: profile, shots: common::artifacts_dir("board") }
    }

    async fn goto(&self, url: &str) {
        self.driver.goto(url).await.unwrap_or_else(|e| panic!("open {url}: {e}"));
    }

    /// The element matching `css`, once there is one: after a click that submits a form,
    /// the next page may not have replaced the old one yet.
    async fn element(&self, css: &str) -> fantoccini::elements::Element {
        let wait = self.driver.wait().at_most(PATIENCE);
        wait.for_element(Locator::Css(css)).await.unwrap_or_else(|e| panic!("find {css}: {e}"))
    }

    async fn text(&self, css: &str) -> String {
        self.element(css).await.text().await.unwrap()
    }

    async fn count(&self, css: &str) -> usize {
        self.driver.find_all(Locator::Css(css)).await.unwrap().len()
    }

    async fn path(&self) -> String {
        let url = self.driver.current_url().await.unwrap();
        match url.query() {
            Some(query) => format!("{}?{query}", url.path()),
            None => url.path().to_string(),
        }
    }

    async fn script(&self, script: &str) -> Value {
        self.driver.execute(script, Vec::new()).await.unwrap_or_else(|e| panic!("run {script}: {e}"))
    }

    async fn click(&self, css: &str) {
        self.element(css).await.click().await.unwrap();
    }

    /// Waits until the page's path starts with `prefix` (a submitted form is followed by a
    /// redirect the browser takes in its own time).
    async fn arrives_at(&self, prefix: &str) {
        eventually(&format!("the browser arrives at {prefix}"), PATIENCE, async || {
            let path = self.path().await;
            if path.starts_with(prefix) { Ok(()) } else { Err(path) }
        })
        .await;
    }

    /// Waits until an element matching `css` exists; how long that took.
    async fn appears(&self, what: &str, css: &str) -> Duration {
        let started = Instant::now();
        eventually(what, PATIENCE, async || {
            let n = self.count(css).await;
            if n > 0 { Ok(()) } else { Err(format!("no {css}")) }
        })
        .await;
        started.elapsed()
    }

    async fn screenshot(&self, name: &str) {
        let png = self.driver.screenshot().await.unwrap();
        std::fs::write(self.shots.join(format!("{name}.png")), png).unwrap();
    }

    /// The session cookie, for requests the test sends itself.
    async fn session_cookie(&self) -> String {
        let cookie = self.driver.get_named_cookie("worksync_board").await.expect("the board's cookie");
        format!("worksync_board={}", cookie.value())
    }

    async fn close(mut self) {
        let _ = self.driver.clone().close().await;
        let _ = self.chromedriver.kill();
        let _ = self.chromedriver.wait();
    }
}

/// A TCP relay in front of the server that the test can cut (every open connection dropped,
/// new ones refused) and restore: a network that fails for real.
struct Cable {
    base: String,
    down: Arc<Mutex<bool>>,
    open: Arc<Mutex<Vec<tokio::task::AbortHandle>>>,
}

impl Cable {
    async fn to(server_base: &str) -> Cable {
        let target = server_base.trim_start_matches("http://").to_string();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let down = Arc::new(Mutex::new(false));
        let open: Arc<Mutex<Vec<tokio::task::AbortHandle>>> = Arc::default();
        let (is_down, connections) = (down.clone(), open.clone());
        tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                if *is_down.lock().unwrap() {
                    continue; // dropped: the browser sees the connection close
                }
                let target = target.clone();
                let task = tokio::spawn(async move {
                    if let Ok(mut outbound) = tokio::net::TcpStream::connect(&target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
                connections.lock().unwrap().push(task.abort_handle());
            }
        });
        Cable { base, down, open }
    }

    fn cut(&self) {
        *self.down.lock().unwrap() = true;
        for connection in self.open.lock().unwrap().drain(..) {
            connection.abort();
        }
    }

    fn restore(&self) {
        *self.down.lock().unwrap() = false;
    }
}

/// A one-time login code, as `worksync open` gets it.
async fn login_code(server: &TestServer) -> String {
    let answer: Value = reqwest::Client::new()
        .post(format!("{}/board/code", server.base))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    answer["code"].as_str().expect("a code").to_string()
}

fn backlog_status(server: &TestServer, id: &str) -> String {
    let index = common::read_yaml(&server.path("projects/orbit-api/work-index.yaml"));
    let item = index["backlog"].as_sequence().unwrap().iter().find(|b| b["id"].as_str() == Some(id));
    item.and_then(|b| b["status"].as_str()).unwrap_or("(missing)").to_string()
}

/// The CSRF token of the page open in the browser.
async fn csrf_of(browser: &Browser) -> String {
    let token = browser.script("return document.querySelector('input[name=csrf]').value").await;
    token.as_str().unwrap().to_string()
}

/// What an agent writes that a page must show as text and never run.
const HOSTILE: &str =
    "<script>window.pwned=1</script>\"><img src=x onerror=\"window.pwned=2\"> [click](javascript:window.pwned=3)";

/// One session in the browser, through everything a person does on the board, with agents
/// working through MCP at the same time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_follows_and_steers_the_agents_in_a_real_browser() {
    let server = TestServer::start().await;
    let agent = server.client("codex").await;
    let browser = Browser::start().await;

    // Log in with a one-time code, straight to the project's board.
    let code = login_code(&server).await;
    browser.goto(&format!("{}/login?code={code}&next=/p/orbit-api", server.base)).await;
    assert_eq!(browser.path().await, "/p/orbit-api");
    assert!(browser.count(".card").await > 3, "the sample project's items are on the board");
    browser.appears("the page follows the feed", "#live-state").await;
    eventually("the page says it is live", PATIENCE, async || {
        let state = browser.text("#live-state").await;
        if state == "live" { Ok(()) } else { Err(state) }
    })
    .await;
    browser.screenshot("board").await;

    // The code works once.
    browser.goto(&format!("{}/login?code={code}", server.base)).await;
    assert!(browser.text(".banner.error").await.contains("did not work"));
    browser.goto(&format!("{}/p/orbit-api", server.base)).await;

    // An agent's tool call appears on the open page, without a reload.
    browser.script("window.sameDocument = true; return null").await;
    call_ok(
        &agent,
        "worksync_add_backlog",
        json!({"project": "orbit-api", "id": "live-item", "summary": "Added by an agent", "theme": "ci", "agent": "codex"}),
    )
    .await;
    let latency = browser.appears("the agent's item on the open board", "#card-backlog-live-item").await;
    eprintln!("an agent's write reached the open page in {latency:?}");
    assert_eq!(browser.script("return window.sameDocument === true").await, json!(true), "no reload");

    // Moving a card changes the YAML and reaches the agents' feed, credited to the person.
    let cursor = call_ok(&agent, "worksync_changes", json!({"project": "orbit-api"})).await["cursor"].clone();
    browser.element("#move-backlog-live-item").await.select_by_value("in_progress").await.unwrap();
    browser.click("#card-backlog-live-item .move button").await;
    eventually("the moved card in the YAML", PATIENCE, async || {
        let status = backlog_status(&server, "live-item");
        if status == "in_progress" { Ok(()) } else { Err(status) }
    })
    .await;
    let feed = call_ok(&agent, "worksync_changes", json!({"project": "orbit-api", "since": cursor})).await;
    let change = &feed["changes"][0];
    assert_eq!((change["id"].as_str(), change["agent"].as_str()), (Some("live-item"), Some("human")), "{feed}");
    browser.appears("the card in its new column", "section[data-status=in_progress] #card-backlog-live-item").await;

    // A stale edit: the agent changes the item while the person's page shows the old one
    // (the person is in the status field, so the page does not refresh under them).
    browser.goto(&format!("{}/p/orbit-api/backlog/live-item", server.base)).await;
    browser.screenshot("item").await;
    browser.element("#status").await;
    browser.script("document.getElementById('status').focus()").await;
    call_ok(
        &agent,
        "worksync_update_backlog",
        json!({"project": "orbit-api", "id": "live-item", "priority": 1, "agent": "codex"}),
    )
    .await;
    browser.element("#status").await.select_by_value("done").await.unwrap();
    browser.click("form[action$='/status'] button").await;
    let banner = browser.text(".banner.error").await;
    assert!(banner.contains("not applied") && banner.contains("codex"), "{banner}");
    assert_eq!(backlog_status(&server, "live-item"), "in_progress", "the stale edit changed nothing");
    browser.screenshot("conflict").await;

    // A post from another origin is refused, even another local port (the same *site*),
    // with the right cookie and CSRF token; from the board's own origin it is taken.
    let (cookie, csrf) = (browser.session_cookie().await, csrf_of(&browser).await);
    let post = |origin: &'static str| {
        reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap()
            .post(format!("{}/p/orbit-api/backlog/live-item/priority", server.base))
            .header("cookie", cookie.clone())
            .header("origin", origin)
            .form(&[("csrf", csrf.as_str()), ("priority", "2")])
            .send()
    };
    for foreign in ["http://evil.example", "http://127.0.0.1:1"] {
        assert_eq!(post(foreign).await.unwrap().status(), 403, "{foreign}");
    }
    let own = Box::leak(server.base.clone().into_boxed_str());
    assert_eq!(post(own).await.unwrap().status(), 303);
    // The board's cookie opens no MCP session.
    let mcp = reqwest::Client::new()
        .post(&server.url)
        .header("cookie", cookie.clone())
        .header("accept", "application/json, text/event-stream")
        .json(&json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}))
        .send()
        .await
        .unwrap();
    assert_eq!(mcp.status(), 401);

    // Untrusted text renders as text and runs nothing.
    call_ok(
        &agent,
        "worksync_add_backlog",
        json!({"project": "orbit-api", "id": "hostile", "summary": HOSTILE, "theme": "ci", "agent": "codex"}),
    )
    .await;
    let story = call_ok(
        &agent,
        "worksync_add_story",
        json!({"project": "orbit-api", "sprint_id": "web-fleet-map", "notes": HOSTILE, "agent": "codex"}),
    )
    .await;
    let story_id = story["story"]["id"].as_str().or(story["id"].as_str()).expect("the new story's id").to_string();
    for page in
        ["/activity", "/p/orbit-api?q=pwned", "/p/orbit-api/backlog/hostile", &format!("/p/orbit-api/story/{story_id}")]
    {
        browser.goto(&format!("{}{page}", server.base)).await;
        assert!(browser.count("#main").await == 1, "{page} rendered");
        assert_eq!(browser.script("return typeof window.pwned").await, json!("undefined"), "{page} ran a script");
        assert_eq!(browser.count("img").await, 0, "{page} made an image from text");
        assert_eq!(browser.count("a[href^='javascript']").await, 0, "{page} made a javascript: link");
    }
    browser.goto(&format!("{}/p/orbit-api/backlog/hostile", server.base)).await;
    assert_eq!(browser.text(".text").await, HOSTILE, "shown exactly as written");
    browser.screenshot("hostile-text").await;

    // The connection is cut; an agent writes meanwhile; once it is back, the page catches up
    // from its cursor, without a reload.
    let cable = Cable::to(&server.base).await;
    browser.goto(&format!("{}/p/orbit-api", cable.base)).await;
    browser.script("window.sameDocument = true; return null").await;
    eventually("the page is live", PATIENCE, async || {
        let state = browser.text("#live-state").await;
        if state == "live" { Ok(()) } else { Err(state) }
    })
    .await;
    cable.cut();
    eventually("the page notices the cut", PATIENCE, async || {
        let state = browser.text("#live-state").await;
        if state.starts_with("reconnecting") { Ok(()) } else { Err(state) }
    })
    .await;
    call_ok(&agent, "worksync_add_backlog", json!({"project": "orbit-api", "id": "while-away", "summary": "Written while the page was cut off", "theme": "ci", "agent": "codex"}))
        .await;
    cable.restore();
    browser.appears("the change made while cut off", "#card-backlog-while-away").await;
    assert_eq!(browser.script("return window.sameDocument === true").await, json!(true), "no reload");

    // Narrow and keyboard: the board is one column, the filter is reachable.
    browser.driver.set_window_size(420, 900).await.unwrap();
    browser.screenshot("board-narrow").await;
    browser.driver.set_window_size(1280, 900).await.unwrap();

    // Logging out ends the session: the board asks to log in again.
    browser.click("form.logout button").await;
    browser.arrives_at("/login").await;
    browser.goto(&format!("{}/p/orbit-api", server.base)).await;
    assert!(browser.path().await.starts_with("/login?next="), "{}", browser.path().await);
    browser.screenshot("login").await;
    browser.close().await;
}

/// Login over plain HTTP: the key pasted by hand, throttled guessing, no page without a
/// session, the headers that keep pages from being framed or scripted.
#[tokio::test]
async fn login_sessions_and_guards_over_http() {
    let server = TestServer::start().await;
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let origin = server.base.clone();

    // Nothing of the board without a session: pages go to the login page, the feed is refused.
    let page = http.get(format!("{}/p/orbit-api", server.base)).send().await.unwrap();
    assert_eq!(page.status(), 303);
    assert_eq!(page.headers()["location"], "/login?next=%2Fp%2Forbit%2Dapi");
    assert_eq!(http.get(format!("{}/events", server.base)).send().await.unwrap().status(), 401);
    // Nor a code without the key.
    assert_eq!(http.post(format!("{}/board/code", server.base)).send().await.unwrap().status(), 401);

    let login = |key: &'static str| {
        http.post(format!("{}/login", server.base))
            .header("origin", origin.clone())
            .form(&[("key", key), ("next", "/p/orbit-api")])
            .send()
    };
    let ok = login(TOKEN).await.unwrap();
    assert_eq!(ok.status(), 303);
    assert_eq!(ok.headers()["location"], "/p/orbit-api");
    let cookie = ok.headers()["set-cookie"].to_str().unwrap().to_string();
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(cookie.contains(attribute), "{cookie}");
    }
    assert!(!cookie.contains("Domain"), "{cookie}");
    let session = cookie.split(';').next().unwrap().to_string();
    let board = http.get(format!("{}/p/orbit-api", server.base)).header("cookie", &session).send().await.unwrap();
    assert_eq!(board.status(), 200);
    let csp = board.headers()["content-security-policy"].to_str().unwrap().to_string();
    assert!(
        csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'") && !csp.contains("unsafe-inline"),
        "{csp}"
    );
    assert_eq!(board.headers()["x-frame-options"], "DENY");
    assert!(board.headers().contains_key("server-timing"));

    // A login from another origin is refused before the key is even looked at.
    let foreign = http
        .post(format!("{}/login", server.base))
        .header("origin", "http://127.0.0.1:1")
        .form(&[("key", TOKEN)])
        .send()
        .await
        .unwrap();
    assert_eq!(foreign.status(), 403);

    // Guessing is throttled: after 10 wrong keys even the right one waits.
    for _ in 0..10 {
        assert_eq!(login("wrong").await.unwrap().status(), 401);
    }
    assert_eq!(login(TOKEN).await.unwrap().status(), 429);
    // The session from before still works.
    let board = http.get(format!("{}/", server.base)).header("cookie", &session).send().await.unwrap();
    assert_eq!(board.status(), 200);

    // An open event stream never holds up a shutdown: it ends with the MCP sessions.
    let mut server = server;
    let stream = http.get(format!("{}/events", server.base)).header("cookie", &session).send().await.unwrap();
    assert_eq!(stream.headers()["content-type"], "text/event-stream");
    let stopped = tokio::time::timeout(PATIENCE, server.stop()).await;
    assert!(stopped.is_ok(), "the server did not stop while a page followed its feed");
    drop(stream);
}

/// `worksync open`: asks the running server for a code and hands the browser a URL that
/// logs in once; `--print` only prints it; a wrong key or no server is a clear error.
#[tokio::test]
async fn worksync_open_hands_the_browser_a_one_time_login() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join(".worksync");
    let opened = dir.path().join("opened");
    let browser = dir.path().join("browser.sh");
    std::fs::write(&browser, format!("#!/bin/sh\necho \"$1\" > '{}'\n", opened.display())).unwrap();
    std::fs::set_permissions(&browser, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let open = |key: &str, args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_worksync"))
            .arg("--data-root")
            .arg(&root)
            .arg("open")
            .args(args)
            .env("WORKSYNC_API_KEY", key)
            .env("WORKSYNC_CONFIG_DIR", dir.path().join("config"))
            .env("BROWSER", &browser)
            .output()
            .unwrap()
    };
    let text = |o: &std::process::Output| {
        format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
    };

    let none = open(TOKEN, &[]);
    assert!(!none.status.success() && text(&none).contains("no server runs"), "{}", text(&none));

    let server = common::Process::serve(&root);
    let run = open(TOKEN, &["orbit-api"]);
    assert!(run.status.success(), "{}", text(&run));
    // The script's shell creates the file before `echo` fills it: wait for the whole line.
    let url =
        eventually("the browser is started with the URL", PATIENCE, async || match std::fs::read_to_string(&opened) {
            Ok(line) if line.ends_with('\n') => Ok(line.trim().to_string()),
            Ok(part) => Err(format!("so far: {part:?}")),
            Err(e) => Err(e.to_string()),
        })
        .await;
    assert!(url.starts_with(&format!("{}/login?code=", server.base)), "{url}");
    assert!(text(&run).contains(&url), "the URL is printed too: {}", text(&run));
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let first = http.get(&url).send().await.unwrap();
    assert_eq!(first.status(), 303);
    assert_eq!(first.headers()["location"], "/p/orbit-api");
    assert!(first.headers().contains_key("set-cookie"));
    assert_eq!(http.get(&url).send().await.unwrap().status(), 401, "a code works once");

    let printed = open(TOKEN, &["--print"]);
    let line = String::from_utf8_lossy(&printed.stdout).trim().to_string();
    assert!(line.starts_with(&format!("{}/login?code=", server.base)) && line.ends_with("next=%2F"), "{line}");

    let wrong = open("not-the-key", &[]);
    assert!(!wrong.status.success() && text(&wrong).contains("refused the API key"), "{}", text(&wrong));
}

/// Every edit the board offers, as the browser posts it: each lands in the YAML or the
/// sidecar, credited to `settings.board_editor`, and a bad one changes nothing and says why.
#[tokio::test]
async fn every_board_edit_goes_through_the_writer_as_the_person() {
    let server = TestServer::start().await;
    let agent = server.client("codex").await;
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let origin = server.base.clone();
    let login = http.post(format!("{}/login", server.base)).header("origin", &origin).form(&[("key", TOKEN)]).send();
    let cookie = login.await.unwrap().headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_string();
    let page = http.get(format!("{}/p/orbit-api", server.base)).header("cookie", &cookie).send().await.unwrap();
    let html = page.text().await.unwrap();
    let csrf = html.split("name=\"csrf\" value=\"").nth(1).unwrap().split('"').next().unwrap().to_string();
    let post = async |path: &str, fields: &[(&str, &str)]| {
        let mut form: Vec<(&str, &str)> = vec![("csrf", csrf.as_str())];
        form.extend_from_slice(fields);
        let response = http
            .post(format!("{}{path}", server.base))
            .header("cookie", &cookie)
            .header("origin", &origin)
            .form(&form)
            .send()
            .await
            .unwrap();
        (response.status().as_u16(), response.text().await.unwrap())
    };
    // The revision the item's page shows, as the browser would send it back.
    let item_rev = async |path: &str| {
        let page =
            http.get(format!("{}/p/orbit-api/{path}", server.base)).header("cookie", &cookie).send().await.unwrap();
        let html = page.text().await.unwrap();
        html.split("class=\"rev\">").nth(1).unwrap().split('<').next().unwrap().to_string()
    };

    // Add a backlog item; it lands in the YAML, credited to the person.
    let (code, _) = post(
        "/p/orbit-api/backlog",
        &[("id", "from-board"), ("summary", "Added on the board"), ("theme", "ci"), ("priority", "2")],
    )
    .await;
    assert_eq!(code, 303);
    let index = common::read_yaml(&server.path("projects/orbit-api/work-index.yaml"));
    assert!(index["backlog"].as_sequence().unwrap().iter().any(|b| b["id"] == "from-board"));
    let feed = call_ok(&agent, "worksync_changes", json!({"project": "orbit-api", "since": "v1:"})).await;
    assert!(
        feed["changes"].as_array().unwrap().iter().any(|c| c["id"] == "from-board" && c["agent"] == "human"),
        "{feed}"
    );

    // A duplicate id is refused with the writer's words, and changes nothing.
    let (code, body) =
        post("/p/orbit-api/backlog", &[("id", "from-board"), ("summary", "again"), ("theme", "ci")]).await;
    assert_eq!(code, 400);
    assert!(body.contains("Not added") && body.contains("from-board"), "{body}");

    // Priority, claim, release and a story note, each with the revision the page showed.
    let r = item_rev("backlog/from-board").await;
    assert_eq!(post("/p/orbit-api/backlog/from-board/priority", &[("rev", &r), ("priority", "1")]).await.0, 303);
    let r = item_rev("backlog/from-board").await;
    assert_eq!(post("/p/orbit-api/backlog/from-board/claim", &[("rev", &r)]).await.0, 303);
    let page = http
        .get(format!("{}/p/orbit-api/backlog/from-board", server.base))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    let html = page.text().await.unwrap();
    assert!(
        html.contains("<dt>Claim</dt><dd>human until"),
        "the claim is the person's: {}",
        html.split("<dl").nth(1).unwrap_or_default()
    );
    let r = item_rev("backlog/from-board").await;
    assert_eq!(post("/p/orbit-api/backlog/from-board/release", &[("rev", &r)]).await.0, 303);
    let r = item_rev("story/STORY-14").await;
    assert_eq!(
        post("/p/orbit-api/story/STORY-14/note", &[("rev", &r), ("note", "Checked on the board.")]).await.0,
        303
    );
    let index = common::read_yaml(&server.path("projects/orbit-api/work-index.yaml"));
    let notes = serde_yaml_ng::to_string(&index).unwrap();
    assert!(notes.contains("Checked on the board."), "the note was appended");

    // A priority out of range, an unknown status and an empty note change nothing.
    let r = item_rev("backlog/from-board").await;
    assert_eq!(post("/p/orbit-api/backlog/from-board/priority", &[("rev", &r), ("priority", "9")]).await.0, 400);
    assert_eq!(post("/p/orbit-api/backlog/from-board/status", &[("rev", &r), ("status", "maybe")]).await.0, 400);
    assert_eq!(post("/p/orbit-api/story/STORY-14/note", &[("rev", "1"), ("note", "  ")]).await.0, 400);
    assert_eq!(item_rev("backlog/from-board").await, r, "nothing changed");
    // A form from an older session is refused.
    let stale = http
        .post(format!("{}/p/orbit-api/backlog/from-board/priority", server.base))
        .header("cookie", &cookie)
        .header("origin", &origin)
        .form(&[("csrf", "not-the-token"), ("rev", r.as_str()), ("priority", "3")])
        .send()
        .await
        .unwrap();
    assert_eq!(stale.status(), 403);
}
