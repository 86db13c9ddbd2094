//! The attack corpus (issue 5): every hostile script in `tests/attacks/*.py` runs through the real
//! server, in file-name order, on ONE app. Each file's header says what the server must answer (see
//! `tests/attacks/README.md`); after each attack the server must still be healthy and have no run
//! left behind. All failures are collected and reported together at the end.
//!
//! Run it alone: `cargo test --test attacks -- --nocapture`.

#[path = "api/helpers.rs"]
#[allow(dead_code)]
mod helpers;

use std::io::ErrorKind;
use std::net::TcpListener;
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Map, Value};

use helpers::{processes_with_async, product_preload, spawn_app_with, unique, TestApp};

const CATEGORIES: [&str; 6] = ["escape", "info", "net", "exhaust", "process", "channel"];
/// A failure message quotes at most this much of the response.
const BODY_EXCERPT: usize = 500;

#[derive(Debug)]
struct Expect {
    status: u16,
    outcome: Outcome,
}

#[derive(Debug)]
enum Outcome {
    /// `success: true` and exactly this `result`.
    Result(Value),
    /// `success: false` and one of these `error_type`s.
    ErrorType(Vec<String>),
}

impl std::fmt::Display for Expect {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.outcome {
            Outcome::Result(v) => write!(f, "status={} result={v}", self.status),
            Outcome::ErrorType(t) => write!(f, "status={} error_type={}", self.status, t.join("|")),
        }
    }
}

#[derive(Debug)]
struct Attack {
    description: String,
    category: String,
    request: Map<String, Value>,
    expects: Vec<Expect>,
    /// What a session's cell must answer instead, where a cell's answer differs (`session-expect`).
    session_expects: Vec<Expect>,
    within: Option<Duration>,
}

/// The language of an attack file, by its extension (issue 18): `.py` Python, `.js` JavaScript,
/// `.R` R, `.sh` Bash. `None`: not an attack file.
fn language_of(path: &Path) -> Option<&'static str> {
    match path.extension()?.to_str()? {
        "py" => Some("python"),
        "js" => Some("javascript"),
        "R" => Some("r"),
        "sh" => Some("bash"),
        _ => None,
    }
}

/// Reads the header of a Python, R or Bash file: its leading `#` lines.
fn parse_header(text: &str) -> Result<Attack, String> {
    parse_header_with(text, "#")
}

/// Reads the header for the file's language: its leading comment lines (`//` in JavaScript), and
/// sets the request's `language` for any language but Python.
fn parse_attack(path: &Path, text: &str) -> Result<Attack, String> {
    let language = language_of(path).ok_or("not an attack file")?;
    let mut attack = parse_header_with(text, if language == "javascript" { "//" } else { "#" })?;
    if language != "python" {
        attack
            .request
            .insert("language".into(), Value::String(language.into()));
    }
    Ok(attack)
}

/// Reads the header: the leading lines that start with `prefix`.
fn parse_header_with(text: &str, prefix: &str) -> Result<Attack, String> {
    let mut description = None;
    let mut category = None;
    let mut request = Map::new();
    let mut expects = Vec::new();
    let mut session_expects = Vec::new();
    let mut within = None;
    for line in text.lines().take_while(|l| l.starts_with(prefix)) {
        let Some((key, value)) = line.trim_start_matches(prefix).split_once(':') else {
            continue; // a plain comment
        };
        let value = value.trim();
        match key.trim() {
            "attack" => description = Some(value.to_string()),
            "category" => {
                if !CATEGORIES.contains(&value) {
                    return Err(format!(
                        "unknown category {value:?}, not one of {CATEGORIES:?}"
                    ));
                }
                category = Some(value.to_string());
            }
            "request" => {
                request = match serde_json::from_str(value) {
                    Ok(Value::Object(map)) if !map.contains_key("script") => map,
                    _ => {
                        return Err(format!(
                            "request must be a JSON object without \"script\": {value}"
                        ))
                    }
                }
            }
            "within" => {
                let secs: f64 = value.parse().map_err(|_| format!("bad within: {value}"))?;
                within = Some(Duration::from_secs_f64(secs));
            }
            "expect" => expects.push(parse_expect(value)?),
            "session-expect" => session_expects.push(parse_expect(value)?),
            _ => {}
        }
    }
    if expects.is_empty() {
        return Err("no `# expect:` line".into());
    }
    Ok(Attack {
        description: description.ok_or("no `# attack:` line")?,
        category: category.ok_or("no `# category:` line")?,
        request,
        expects,
        session_expects,
        within,
    })
}

/// `status=200 result=<JSON to the end of the line>` or `status=422 error_type=a|b`.
fn parse_expect(value: &str) -> Result<Expect, String> {
    let bad = || format!("bad expect: {value}");
    let rest = value.strip_prefix("status=").ok_or_else(bad)?;
    let (status, rest) = rest.split_once(' ').ok_or_else(bad)?;
    let status = status.parse().map_err(|_| bad())?;
    let rest = rest.trim();
    let outcome = if let Some(json) = rest.strip_prefix("result=") {
        Outcome::Result(serde_json::from_str(json).map_err(|e| format!("{}: {e}", bad()))?)
    } else if let Some(types) = rest.strip_prefix("error_type=") {
        Outcome::ErrorType(types.split('|').map(|t| t.trim().to_string()).collect())
    } else {
        return Err(bad());
    };
    Ok(Expect { status, outcome })
}

fn matches(expect: &Expect, status: u16, body: &Value) -> bool {
    status == expect.status
        && match &expect.outcome {
            Outcome::Result(v) => body["success"] == Value::Bool(true) && &body["result"] == v,
            Outcome::ErrorType(types) => {
                body["success"] == Value::Bool(false)
                    && types.iter().any(|t| body["error_type"] == t.as_str())
            }
        }
}

fn excerpt(text: &str) -> String {
    if text.chars().count() <= BODY_EXCERPT {
        text.to_string()
    } else {
        format!("{}...", text.chars().take(BODY_EXCERPT).collect::<String>())
    }
}

/// What the host looks like from outside the jail, and bait that the attacks try to reach.
struct Host {
    canary_file: PathBuf,
    tcp: TcpListener,
    unix_path: PathBuf,
    unix: UnixListener,
    abstract_name: String,
    abstract_unix: UnixListener,
    subs: Vec<(&'static str, String)>,
}

impl Host {
    fn new(app: &TestApp, canary: &str) -> Host {
        use std::os::linux::net::SocketAddrExt;
        let tmp = std::env::temp_dir();
        let canary_file = tmp.join(format!("{canary}.secret"));
        std::fs::write(&canary_file, canary).expect("canary file");
        let tcp = TcpListener::bind("0.0.0.0:0").expect("host TCP listener");
        tcp.set_nonblocking(true).unwrap();
        let unix_path = tmp.join(format!("{canary}.sock"));
        let unix = UnixListener::bind(&unix_path).expect("host unix listener");
        unix.set_nonblocking(true).unwrap();
        let abstract_name = format!("{canary}-abstract");
        let addr = std::os::unix::net::SocketAddr::from_abstract_name(abstract_name.as_bytes())
            .expect("abstract address");
        let abstract_unix = UnixListener::bind_addr(&addr).expect("host abstract listener");
        abstract_unix.set_nonblocking(true).unwrap();

        let mut abstract_names = host_abstract_sockets();
        abstract_names.insert(0, abstract_name.clone());
        let checkout = std::env::current_dir().unwrap();
        let subs = vec![
            ("@@SERVER_PORT@@", app.port.to_string()),
            ("@@CHECKOUT@@", quoted(&checkout.display().to_string())),
            ("@@CANARY@@", quoted(canary)),
            (
                "@@HOST_CANARY_FILE@@",
                quoted(&canary_file.display().to_string()),
            ),
            (
                "@@HOST_HOSTNAME@@",
                quoted(&read_trimmed("/proc/sys/kernel/hostname")),
            ),
            ("@@HOST_ADDRS@@", Value::from(host_addresses()).to_string()),
            (
                "@@HOST_LISTEN_PORT@@",
                tcp.local_addr().unwrap().port().to_string(),
            ),
            (
                "@@HOST_UNIX_SOCKET@@",
                quoted(&unix_path.display().to_string()),
            ),
            (
                "@@HOST_ABSTRACT_SOCKETS@@",
                Value::from(abstract_names).to_string(),
            ),
            (
                "@@HOST_NAMESERVERS@@",
                Value::from(nameservers()).to_string(),
            ),
        ];
        Host {
            canary_file,
            tcp,
            unix_path,
            unix,
            abstract_name,
            abstract_unix,
            subs,
        }
    }

    fn substitute(&self, source: &str, marker: &str) -> Result<String, String> {
        let mut script = source.replace("@@MARKER@@", marker);
        for (placeholder, value) in &self.subs {
            script = script.replace(placeholder, value);
        }
        match script.find("@@") {
            Some(at) => Err(format!(
                "unknown placeholder near {:?}",
                &script[at..(at + 40).min(script.len())]
            )),
            None => Ok(script),
        }
    }

    /// Whether anything connected to one of the host listeners (each must stay untouched).
    fn connections(&self) -> Vec<String> {
        let mut found = Vec::new();
        if let Ok((_, peer)) = self.tcp.accept() {
            found.push(format!(
                "the host TCP listener accepted a connection from {peer}"
            ));
        }
        for (name, listener) in [
            (self.unix_path.display().to_string(), &self.unix),
            (format!("@{}", self.abstract_name), &self.abstract_unix),
        ] {
            match listener.accept() {
                Ok(_) => found.push(format!(
                    "the host unix listener {name} accepted a connection"
                )),
                Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                Err(e) => found.push(format!("the host unix listener {name} failed: {e}")),
            }
        }
        found
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.canary_file);
        let _ = std::fs::remove_file(&self.unix_path);
    }
}

/// A value for a `"@@...@@"` slot in a Python string literal.
fn quoted(value: &str) -> String {
    assert!(
        !value.contains(['"', '\\', '\n']),
        "cannot put {value:?} in a Python literal"
    );
    value.to_string()
}

fn read_trimmed(path: &str) -> String {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .trim()
        .to_string()
}

/// The host's own non-loopback addresses, IPv4 from the local routing table and global IPv6.
fn host_addresses() -> Vec<String> {
    let mut found = Vec::new();
    let trie = std::fs::read_to_string("/proc/net/fib_trie").unwrap_or_default();
    let mut last = None;
    for line in trie.lines() {
        let t = line.trim();
        if let Some(addr) = t.strip_prefix("|-- ") {
            last = Some(addr.to_string());
        } else if t == "/32 host LOCAL" {
            if let Some(addr) = last.take() {
                if !addr.starts_with("127.") && !found.contains(&addr) {
                    found.push(addr);
                }
            }
        }
    }
    let v6 = std::fs::read_to_string("/proc/net/if_inet6").unwrap_or_default();
    for line in v6.lines() {
        let hex = line.split_whitespace().next().unwrap_or_default();
        let Ok(bits) = u128::from_str_radix(hex, 16) else {
            continue;
        };
        let addr = std::net::Ipv6Addr::from(bits);
        let link_local = (addr.segments()[0] & 0xffc0) == 0xfe80;
        if !addr.is_loopback() && !link_local {
            found.push(addr.to_string());
        }
    }
    found
}

/// Abstract unix socket names bound on the host (`/proc/net/unix`), at most 40.
fn host_abstract_sockets() -> Vec<String> {
    let table = std::fs::read_to_string("/proc/net/unix").unwrap_or_default();
    let mut names: Vec<String> = table
        .lines()
        .skip(1)
        .filter_map(|l| l.split_whitespace().nth(7))
        .filter_map(|p| p.strip_prefix('@'))
        .map(str::to_string)
        .collect();
    names.sort();
    names.dedup();
    names.truncate(40);
    names
}

fn nameservers() -> Vec<String> {
    std::fs::read_to_string("/etc/resolv.conf")
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.trim().strip_prefix("nameserver"))
        .map(|s| s.trim().to_string())
        .collect()
}

fn attack_files() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/attacks");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| language_of(p).is_some())
        .collect();
    files.sort();
    files
}

fn panic_text(e: tokio::task::JoinError) -> String {
    if !e.is_panic() {
        return e.to_string();
    }
    let payload = e.into_panic();
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "a panic".into())
}

async fn wait_pool_full(app: &TestApp) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        let (_, health) = app.health().await;
        if health["pool_ready"] == health["pool_size"] {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn pool_hits(app: &TestApp) -> u64 {
    app.metrics()
        .await
        .lines()
        .find_map(|l| l.strip_prefix("psa_pool_hits_total "))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// Runs one attack; returns why it failed, if it did.
async fn run_attack(app: &TestApp, host: &Host, attack: &Attack, script: String) -> Option<String> {
    let mut body = attack.request.clone();
    body.insert("script".into(), Value::String(script));
    let started = Instant::now();
    let sent = app
        .client
        .post(format!("{}/execute", app.address))
        .header("Content-Type", "application/json")
        .body(Value::Object(body).to_string())
        .send()
        .await;
    let response = match sent {
        Ok(r) => r,
        Err(e) => return Some(format!("the request failed: {e}")),
    };
    let status = response.status().as_u16();
    let text = match response.text().await {
        Ok(t) => t,
        Err(e) => return Some(format!("status {status}, the body could not be read: {e}")),
    };
    let elapsed = started.elapsed();
    let mut problems = Vec::new();
    match serde_json::from_str::<Value>(&text) {
        Ok(value) if attack.expects.iter().any(|e| matches(e, status, &value)) => {}
        Ok(_) => problems.push(format!(
            "expected {}",
            attack
                .expects
                .iter()
                .map(|e| e.to_string())
                .collect::<Vec<_>>()
                .join(" OR ")
        )),
        Err(e) => problems.push(format!("the response is not JSON ({e})")),
    }
    if let Some(limit) = attack.within {
        if elapsed > limit {
            problems.push(format!("took {elapsed:.1?}, more than {limit:?}"));
        }
    }
    problems.extend(host.connections());
    if problems.is_empty() {
        None
    } else {
        Some(format!(
            "{}\n    got {status} after {elapsed:.1?}: {}",
            problems.join("; "),
            excerpt(&text)
        ))
    }
}

#[tokio::test]
async fn every_attack_is_contained() {
    let started = Instant::now();
    // The server's own environment carries a secret; no script may find it.
    let canary = unique("psa-attack-canary");
    std::env::set_var("PSA_ATTACK_CANARY", &canary);
    // The product's preload: the corpus attacks the zygote a deployment runs.
    let app = Arc::new(spawn_app_with(|s| s.sandbox.preload = product_preload()).await);
    let host = Host::new(&app, &canary);

    let files = attack_files();
    assert!(
        files.len() >= 60,
        "only {} attack files in tests/attacks",
        files.len()
    );
    let mut failures = Vec::new();
    let mut warm_runs = 0;
    let mut per_category = std::collections::BTreeMap::<String, usize>::new();
    for (index, path) in files.iter().enumerate() {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let source = std::fs::read_to_string(path).expect("attack file is UTF-8");
        let attack = match parse_attack(path, &source) {
            Ok(a) => a,
            Err(e) => {
                failures.push(format!("{name}: bad header: {e}"));
                continue;
            }
        };
        *per_category.entry(attack.category.clone()).or_default() += 1;
        *per_category
            .entry(format!("lang:{}", language_of(path).unwrap_or("?")))
            .or_default() += 1;
        let marker = format!("psa-attack-marker-{}-{index}", std::process::id());
        let script = match host.substitute(&source, &marker) {
            Ok(s) => s,
            Err(e) => {
                failures.push(format!("{name}: {e}"));
                continue;
            }
        };
        let one = Instant::now();
        // A full pool first, so that every attack that fits a warm sandbox gets one.
        wait_pool_full(&app).await;
        let hits = pool_hits(&app).await;
        let mut failure = run_attack(&app, &host, &attack, script).await;
        let warm = pool_hits(&app).await > hits;
        warm_runs += usize::from(warm);

        // Whatever the attack did, nothing of it may outlive the response.
        if source.contains("@@MARKER@@") {
            let deadline = Instant::now() + Duration::from_secs(2);
            while !processes_with_async(&marker).await.is_empty() && Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            let left = processes_with_async(&marker).await;
            if !left.is_empty() {
                let text = format!("processes outlived the run: {left:?}");
                failure = Some(failure.map_or(text.clone(), |f| format!("{f}\n    {text}")));
            }
        }
        let checker = Arc::clone(&app);
        let health = tokio::spawn(async move {
            checker.assert_healthy().await;
            checker.assert_no_leftovers().await;
        })
        .await;
        if let Err(e) = health {
            let text = format!("after the attack: {}", panic_text(e));
            failure = Some(failure.map_or(text.clone(), |f| format!("{f}\n    {text}")));
        }

        let took = one.elapsed();
        let path = if warm { "warm" } else { "cold" };
        match failure {
            None => println!("[contained] {name} ({took:.1?}, {path})"),
            Some(why) => {
                println!("[FAILED]    {name} ({took:.1?}, {path})");
                failures.push(format!(
                    "{name} ({}): {}\n    {why}",
                    attack.category, attack.description
                ));
            }
        }
    }
    // Which path each attack took: in fork mode, all but those asking for less memory than a
    // zygote uses (they run cold, by design).
    let (_, health) = app.health().await;
    let zygotes = app
        .metrics()
        .await
        .lines()
        .find_map(|l| l.strip_prefix("psa_pool_zygote_starts_total "))
        .unwrap_or("0")
        .to_string();
    println!(
        "{} attacks {per_category:?} in {:.1?}; {warm_runs} ran in warm sandboxes (pool mode {}, {zygotes} zygotes started)",
        files.len(),
        started.elapsed(),
        health["pool_mode"]
    );
    assert!(
        failures.is_empty(),
        "{} of {} attacks were not contained:\n\n{}",
        failures.len(),
        files.len(),
        failures.join("\n\n")
    );
    // With a pool, the warm path must have been attacked too, not only the cold one.
    if health["pool_size"].as_u64().unwrap_or(0) > 0 {
        assert!(
            warm_runs > 0,
            "no attack ran in a warm sandbox, though the pool has {}: {health}",
            health["pool_size"]
        );
    }
}

/// The least memory a session of the corpus gets: its zygote (the preload: about 50 MiB with the
/// suite's, 125 with the product's) lives in it too.
const SESSION_MIN_MEMORY: u64 = 160;

/// A request to `path` on `app`; status and JSON body (`Null` when empty or not JSON).
async fn call(app: &TestApp, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
    let url = format!("{}{path}", app.address);
    let builder = match method {
        "DELETE" => app.client.delete(url),
        _ => app.client.post(url),
    };
    let builder = match body {
        Some(b) => builder
            .header("Content-Type", "application/json")
            .body(b.to_string()),
        None => builder,
    };
    match builder.send().await {
        Ok(r) => {
            let status = r.status().as_u16();
            let text = r.text().await.unwrap_or_default();
            (status, serde_json::from_str(&text).unwrap_or(Value::Null))
        }
        Err(e) => (0, Value::String(e.to_string())),
    }
}

/// Runs one attack as a cell of a fresh session (the script, then `main()` as its last
/// expression), with the attack's memory for the session (at least `SESSION_MIN_MEMORY`) and its
/// timeout for the cell. Then the session is deleted, and a new one must find nothing of it.
async fn run_attack_in_session(
    app: &TestApp,
    host: &Host,
    attack: &Attack,
    script: String,
) -> Option<String> {
    let memory = attack
        .request
        .get("memory")
        .and_then(Value::as_u64)
        .unwrap_or(256)
        .max(SESSION_MIN_MEMORY);
    let (status, created) = call(
        app,
        "POST",
        "/sessions",
        Some(serde_json::json!({"memory": memory})),
    )
    .await;
    let Some(id) = created["session_id"].as_str().map(str::to_string) else {
        return Some(format!("the session did not start: {status} {created}"));
    };
    let call_main = if script.contains("async def main") {
        "\n\nimport asyncio as _asyncio\n_asyncio.run(main())\n"
    } else {
        "\n\nmain()\n"
    };
    let mut body = Map::new();
    body.insert("code".into(), Value::String(format!("{script}{call_main}")));
    if let Some(t) = attack.request.get("timeout") {
        body.insert("timeout".into(), t.clone());
    }
    let started = Instant::now();
    let (status, answer) = call(
        app,
        "POST",
        &format!("/sessions/{id}/execute"),
        Some(Value::Object(body)),
    )
    .await;
    let elapsed = started.elapsed();
    let expects = if attack.session_expects.is_empty() {
        &attack.expects
    } else {
        &attack.session_expects
    };
    let mut problems = Vec::new();
    if !expects.iter().any(|e| matches(e, status, &answer)) {
        problems.push(format!(
            "expected {}\n    got {status} after {elapsed:.1?}: {}",
            expects
                .iter()
                .map(|e| e.to_string())
                .collect::<Vec<_>>()
                .join(" OR "),
            excerpt(&answer.to_string())
        ));
    }
    if let Some(limit) = attack.within {
        // A cell may use its grace after the interrupt before the session is ended.
        let limit = limit + Duration::from_secs(3);
        if elapsed > limit {
            problems.push(format!("took {elapsed:.1?}, more than {limit:?}"));
        }
    }
    problems.extend(host.connections());
    let (status, gone) = call(app, "DELETE", &format!("/sessions/{id}"), None).await;
    if status != 204 && !(status == 404 && gone["error_type"] == "session_not_found") {
        problems.push(format!("DELETE answered {status}: {gone}"));
    }
    // A fresh session is clean: its own processes only, an empty working directory, /dev/shm.
    let (_, fresh) = call(app, "POST", "/sessions", Some(serde_json::json!({}))).await;
    match fresh["session_id"].as_str() {
        None => problems.push(format!("a fresh session did not start: {fresh}")),
        Some(fresh_id) => {
            let probe = "import os\n{'tmp': sorted(n for n in os.listdir('.') if n != '.matplotlib'), 'shm': os.listdir('/dev/shm'), 'pids': sorted(int(p) for p in os.listdir('/proc') if p.isdigit())}";
            let (status, seen) = call(
                app,
                "POST",
                &format!("/sessions/{fresh_id}/execute"),
                Some(serde_json::json!({"code": probe})),
            )
            .await;
            let clean = serde_json::json!({"tmp": ["output"], "shm": [], "pids": [1]});
            if status != 200 || seen["result"] != clean {
                problems.push(format!(
                    "a fresh session after it is not clean: {status} {seen}"
                ));
            }
            call(app, "DELETE", &format!("/sessions/{fresh_id}"), None).await;
        }
    }
    if problems.is_empty() {
        None
    } else {
        Some(problems.join("; "))
    }
}

#[tokio::test]
async fn every_attack_is_contained_as_a_session_cell() {
    let started = Instant::now();
    let canary = unique("psa-session-attack-canary");
    std::env::set_var("PSA_ATTACK_CANARY", &canary);
    // The suite's preload (numpy, pandas, scipy), not the product's: every attack starts a session,
    // so a zygote of its own, and with matplotlib and seaborn this corpus took 520 s instead of
    // about 230 per pass. The one-shot corpus above attacks zygotes with the product's preload;
    // what a session adds (its socket, its cell loop) does not depend on what was imported.
    // Fork mode whatever the pass sets (sessions need it: under SANDBOX_POOL_MODE=spawn they are
    // 501, which tests/api/sessions.rs checks).
    let app = Arc::new(
        spawn_app_with(|s| s.sandbox.pool_mode = Some(python_script_api::sandbox::PoolMode::Fork))
            .await,
    );
    let host = Host::new(&app, &canary);
    let files = attack_files();
    let mut failures = Vec::new();
    for (index, path) in files.iter().enumerate() {
        // Sessions are Python's: the other languages' attacks run in the one-shot corpus only.
        if language_of(path) != Some("python") {
            continue;
        }
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let source = std::fs::read_to_string(path).expect("attack file is UTF-8");
        let attack = match parse_header(&source) {
            Ok(a) => a,
            Err(e) => {
                failures.push(format!("{name}: bad header: {e}"));
                continue;
            }
        };
        let marker = format!("psa-session-attack-marker-{}-{index}", std::process::id());
        let script = match host.substitute(&source, &marker) {
            Ok(s) => s,
            Err(e) => {
                failures.push(format!("{name}: {e}"));
                continue;
            }
        };
        let one = Instant::now();
        let mut failure = run_attack_in_session(&app, &host, &attack, script).await;
        if source.contains("@@MARKER@@") {
            let left = processes_with_async(&marker).await;
            if !left.is_empty() {
                let text = format!("processes outlived the session: {left:?}");
                failure = Some(failure.map_or(text.clone(), |f| format!("{f}\n    {text}")));
            }
        }
        let checker = Arc::clone(&app);
        let health = tokio::spawn(async move {
            checker.assert_healthy().await;
            checker.assert_no_leftovers().await;
        })
        .await;
        if let Err(e) = health {
            let text = format!("after the attack: {}", panic_text(e));
            failure = Some(failure.map_or(text.clone(), |f| format!("{f}\n    {text}")));
        }
        let took = one.elapsed();
        match failure {
            None => println!("[contained] {name} ({took:.1?}, session cell)"),
            Some(why) => {
                println!("[FAILED]    {name} ({took:.1?}, session cell)");
                failures.push(format!(
                    "{name} ({}): {}\n    {why}",
                    attack.category, attack.description
                ));
            }
        }
    }
    println!(
        "{} attacks as session cells in {:.1?}",
        files.len(),
        started.elapsed()
    );
    assert!(
        failures.is_empty(),
        "{} of {} attacks were not contained as session cells:\n\n{}",
        failures.len(),
        files.len(),
        failures.join("\n\n")
    );
}
