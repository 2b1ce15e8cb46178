//! The README's shell examples, run as written: every ```sh block but the first, in order, in
//! one bash session against a `warden serve` on a fresh database, starting with the README's
//! own `warden bootstrap`.
//!
//! What differs from a reader's terminal, and only this: `cargo run ... -p warden --` is the
//! built binary (through a `warden` on PATH), the README's `http://127.0.0.1:8080` is the
//! test server's address, HOME is an empty temporary directory, and `warden` and `curl` on
//! PATH are shims that record each call (arguments, exit status, HTTP status, output) for
//! the assertions. The script runs under `set -eEuo pipefail` with `inherit_errexit`, so that
//! an unset variable or a failing command stops it, naming its README line. Each call must
//! succeed (exit 0, HTTP 2xx) unless a comment just above it names another status, such as
//! "(409)"; a comment just below a call that shows JSON must match the real answer's keys.
//! The first block (starting the server, running the tests) is not run: the test checks that
//! it still names those commands.

#![cfg(unix)]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::fmt::Write as _;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{serve, without_warden_env};
use serde_json::Value;

/// The server address the README uses; replaced by the test server's.
const README_URL: &str = "http://127.0.0.1:8080";
/// How the README runs the binary from a checkout; replaced by `warden`.
const CARGO_RUN: [&str; 2] = [
    "cargo run --release -q -p warden --",
    "cargo run --release -p warden --",
];
/// The programs the examples call that the test records.
const RECORDED: [&str; 2] = ["curl", "warden"];

fn readme_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../README.md")
}

/// A ```sh block: its first line's number in the README and its text.
struct Block {
    line: usize,
    text: String,
}

fn sh_blocks(readme: &str) -> Vec<Block> {
    let mut blocks = Vec::new();
    let mut current: Option<Block> = None;
    for (i, line) in readme.lines().enumerate() {
        match current.as_mut() {
            None if line.trim_end() == "```sh" => {
                current = Some(Block {
                    line: i + 2,
                    text: String::new(),
                })
            }
            None => {}
            Some(_) if line.trim_end() == "```" => blocks.extend(current.take()),
            Some(block) => {
                block.text.push_str(line);
                block.text.push('\n');
            }
        }
    }
    assert!(current.is_none(), "README.md has an unclosed ```sh block");
    blocks
}

/// One call of a recorded program, as the README writes it.
#[derive(Debug)]
struct Call {
    /// README line where the command starts.
    line: usize,
    program: &'static str,
    /// The whole command (continuation lines joined).
    text: String,
    /// The HTTP status a comment above it announces, as in "(409)"; else any 2xx.
    status: Option<u16>,
    /// The JSON a comment below it shows.
    shown: Option<Value>,
}

/// The recorded calls of `blocks`, in the order they run (the examples have no loops or
/// branches).
fn calls(blocks: &[Block]) -> Vec<Call> {
    let mut calls: Vec<Call> = Vec::new();
    for block in blocks {
        let mut announced: Option<u16> = None;
        let mut after_command = false;
        let mut lines = block.text.lines().enumerate();
        while let Some((i, first)) = lines.next() {
            let mut text = first.to_owned();
            while text.ends_with('\\') {
                text.pop();
                match lines.next() {
                    Some((_, next)) => text.push_str(next),
                    None => break,
                }
            }
            let trimmed = text.trim();
            if trimmed.is_empty() {
                announced = None;
                after_command = false;
            } else if let Some(comment) = trimmed.strip_prefix('#') {
                let comment = comment.trim();
                if after_command && comment.starts_with('{') {
                    let shown = serde_json::from_str(comment).unwrap_or_else(|e| {
                        panic!(
                            "README.md:{}: the output shown is not JSON: {e}",
                            block.line + i
                        )
                    });
                    if let Some(call) = calls.last_mut() {
                        call.shown = Some(shown);
                    }
                } else {
                    announced = status_in(comment).or(announced);
                }
            } else {
                let code = trimmed.split(" #").next().unwrap_or(trimmed);
                for word in code.split(|c: char| c.is_whitespace() || "()|;&".contains(c)) {
                    if let Some(program) = RECORDED.iter().find(|p| **p == word) {
                        calls.push(Call {
                            line: block.line + i,
                            program,
                            text: trimmed.to_owned(),
                            status: announced.take(),
                            shown: None,
                        });
                    }
                }
                after_command = true;
            }
        }
    }
    calls
}

/// An HTTP status written as "(409)" in a comment.
fn status_in(comment: &str) -> Option<u16> {
    comment.split('(').skip(1).find_map(|rest| {
        let (code, _) = rest.split_once(')')?;
        let code: u16 = code.parse().ok()?;
        (100..600).contains(&code).then_some(code)
    })
}

/// A call as it ran: read back from what the shims recorded.
#[derive(Debug)]
struct Ran {
    program: String,
    args: String,
    exit: i32,
    /// For curl: the status of the HTTP answer.
    http: Option<u16>,
    output: String,
}

impl Ran {
    fn json(&self) -> Value {
        serde_json::from_str(&self.output)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {} answered {}", self.args, self.output))
    }
}

fn read_log(log: &Path) -> Vec<Ran> {
    let count: usize = std::fs::read_to_string(log.join("count"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    (1..=count)
        .map(|n| {
            let file = |ext: &str| std::fs::read_to_string(log.join(format!("{n}.{ext}")));
            let http = file("head").ok().and_then(|head| {
                // The last answer's status line ("HTTP/1.1 201 Created"), after any 100 Continue.
                head.lines()
                    .rfind(|l| l.starts_with("HTTP/"))
                    .and_then(|l| l.split_whitespace().nth(1))
                    .and_then(|s| s.parse().ok())
            });
            Ran {
                program: file("program").unwrap().trim().to_owned(),
                args: file("args").unwrap().lines().collect::<Vec<_>>().join(" "),
                exit: file("exit")
                    .map(|e| e.trim().parse().unwrap())
                    .unwrap_or(-1),
                http,
                output: file("out").unwrap_or_default(),
            }
        })
        .collect()
}

fn quote(path: &Path) -> String {
    format!("'{}'", path.to_string_lossy().replace('\'', r"'\''"))
}

/// A shim that runs `real` and records the call as number N in `log`: `N.program`,
/// `N.args`, `N.out`, `N.exit`, and for curl the response headers in `N.head`.
fn write_shim(dir: &Path, name: &str, real: &Path, log: &Path) {
    let headers = if name == "curl" {
        r#"-D "$log/$n.head""#
    } else {
        ""
    };
    let script = format!(
        r#"#!/bin/sh
log={log}
n=$(( $(cat "$log/count") + 1 ))
echo "$n" > "$log/count"
echo {name} > "$log/$n.program"
printf '%s\n' {name} "$@" > "$log/$n.args"
{real} {headers} "$@" > "$log/$n.out"
status=$?
echo "$status" > "$log/$n.exit"
cat "$log/$n.out"
exit "$status"
"#,
        log = quote(log),
        real = quote(real),
    );
    let path = dir.join(name);
    std::fs::write(&path, script).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// `name` on PATH.
fn which(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| {
            p.metadata()
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
}

/// bash, curl and python3, or why not: in CI a missing one fails the test, elsewhere it
/// skips it.
fn prerequisites() -> Option<[PathBuf; 3]> {
    let found = ["bash", "curl", "python3"].map(|name| (name, which(name)));
    let missing: Vec<&str> = found
        .iter()
        .filter(|(_, p)| p.is_none())
        .map(|(n, _)| *n)
        .collect();
    if missing.is_empty() {
        return Some(found.map(|(_, p)| p.unwrap()));
    }
    let message = format!(
        "the README's shell examples need {} on PATH: install {} (e.g. `sudo apt-get install \
         bash curl python3` on Debian or Ubuntu, `brew install bash curl python3` on macOS)",
        missing.join(", "),
        if missing.len() == 1 { "it" } else { "them" },
    );
    if std::env::var_os("CI").is_some() {
        panic!("{message}");
    }
    eprintln!("skipped: {message}; with CI set this test fails instead");
    None
}

/// The runnable script: the blocks after the first, with the README's prefix and address
/// replaced, under `set -eEuo pipefail`; a failing command names its README line.
fn script(blocks: &[Block], base: &str) -> String {
    let mut script = String::from(
        "set -eEuo pipefail\nshopt -s inherit_errexit\n\
         trap 'echo \"README.md:$((LINENO + README_OFFSET)): failed: $BASH_COMMAND\" >&2' ERR\n",
    );
    for block in blocks {
        // Keep one script line per README line so that LINENO maps back to the README.
        let start = script.lines().count() + 2;
        writeln!(script, "README_OFFSET={}", block.line as i64 - start as i64).unwrap();
        let mut text = block.text.replace(README_URL, base);
        for prefix in CARGO_RUN {
            text = text.replace(prefix, "warden");
        }
        script.push_str(&text);
    }
    script
}

#[test]
fn the_readme_shell_examples_run_as_written() {
    let Some([bash, curl, _python3]) = prerequisites() else {
        return;
    };
    let readme = std::fs::read_to_string(readme_path()).unwrap();
    let blocks = sh_blocks(&readme);
    assert!(
        blocks.len() >= 7,
        "README.md has {} ```sh blocks",
        blocks.len()
    );

    // The first block is how to start the server and run the tests: not run, but checked.
    let first = &blocks[0].text;
    assert!(
        first.contains("cargo run --release -p warden -- serve"),
        "README.md:{}: the first block starts the server: {first}",
        blocks[0].line
    );
    assert!(
        first
            .lines()
            .any(|l| l.split_whitespace().next() == Some("scripts/test")),
        "README.md:{}: the first block runs scripts/test: {first}",
        blocks[0].line
    );
    let runnable = &blocks[1..];
    assert!(
        runnable[0].text.contains("warden -- bootstrap"),
        "README.md:{}: the walkthrough starts with `warden bootstrap`",
        runnable[0].line
    );
    let expected = calls(runnable);

    // The server runs in `dir` on its default database, ./warden.db, as the README's does;
    // the README's commands run there too, so that its `bootstrap` finds the same file.
    let dir = tempfile::tempdir().unwrap();
    let server = serve(dir.path(), &[]);
    let (bin, log, home) = (
        dir.path().join("bin"),
        dir.path().join("log"),
        dir.path().join("home"),
    );
    for d in [&bin, &log, &home] {
        std::fs::create_dir(d).unwrap();
    }
    std::fs::write(log.join("count"), "0\n").unwrap();
    write_shim(
        &bin,
        "warden",
        Path::new(env!("CARGO_BIN_EXE_warden")),
        &log,
    );
    write_shim(&bin, "curl", &curl, &log);
    let path = std::env::join_paths(std::iter::once(bin.clone()).chain(std::env::split_paths(
        &std::env::var_os("PATH").unwrap_or_default(),
    )))
    .unwrap();
    let script_path = dir.path().join("readme.sh");
    std::fs::write(&script_path, script(runnable, &server.base)).unwrap();

    let started = Instant::now();
    let mut child = without_warden_env(&mut Command::new(&bash))
        .arg(&script_path)
        .current_dir(dir.path())
        .env("PATH", path)
        .env("HOME", &home)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The examples take seconds; a hung one must not hang the suite.
    let deadline = started + Duration::from_secs(120);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    // The end of the output is what led to a failure; the whole of it is pages of JSON.
    let tail: String = {
        let chars: Vec<char> = stdout.chars().collect();
        chars[chars.len().saturating_sub(2000)..].iter().collect()
    };
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "the README's examples failed ({}):\n{stderr}\n--- the end of their output ---\n{tail}",
        out.status
    );

    // Every call the README writes ran, in order, and answered as the README says.
    let ran = read_log(&log);
    assert_eq!(
        ran.len(),
        expected.len(),
        "calls written {:#?}\ncalls run {:#?}",
        expected.iter().map(|c| &c.text).collect::<Vec<_>>(),
        ran.iter().map(|r| &r.args).collect::<Vec<_>>()
    );
    for (call, run) in expected.iter().zip(&ran) {
        let at = format!("README.md:{}: `{}`", call.line, run.args);
        assert_eq!(run.program, call.program, "{at}");
        assert_eq!(run.exit, 0, "{at} exited {}: {}", run.exit, run.output);
        if call.program == "curl" {
            let http = run.http.unwrap_or_else(|| panic!("{at}: no HTTP answer"));
            match call.status {
                Some(announced) => assert_eq!(http, announced, "{at}: {}", run.output),
                None => assert!((200..300).contains(&http), "{at}: {http} {}", run.output),
            }
        }
        if let Some(Value::Object(shown)) = &call.shown {
            let real = run.json();
            for (key, value) in shown {
                let got = real
                    .get(key)
                    .unwrap_or_else(|| panic!("{at}: no `{key}` in {real}"));
                if !value.is_number() {
                    assert_eq!(got, value, "{at}: `{key}` as shown in the README");
                }
            }
        }
    }

    // What the walkthrough is about, answer by answer.
    let find = |needle: &str| -> &Ran {
        let found: Vec<&Ran> = expected
            .iter()
            .zip(&ran)
            .filter(|(c, _)| c.text.contains(needle))
            .map(|(_, r)| r)
            .collect();
        assert_eq!(found.len(), 1, "one README call contains `{needle}`");
        found[0]
    };
    let key = find("bootstrap --org Acme").output.trim().to_owned();
    assert!(key.starts_with("wdn_") && !key.contains('\n'), "{key:?}");
    let perms = find("permissions?resource=dataset").json();
    let items = perms["items"].as_array().unwrap();
    assert!(items.iter().all(|p| p["resource"] == "dataset"), "{perms}");
    assert!(
        items.iter().any(|p| p["key"] == "dataset:update"),
        "{perms}"
    );
    let role = find(r#"\"Data Scientist\""#).json();
    assert_eq!(
        role["effective_permissions"],
        serde_json::json!(["dataset:read", "dataset:update"])
    );
    let predefined = find("roles?is_predefined=true").json();
    let names: Vec<&Value> = predefined["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| &r["name"])
        .collect();
    assert_eq!(names, ["Owner", "Admin", "Member"]);
    let conflict = find(r#""name": "manager""#).json();
    assert_eq!(conflict["error"]["code"], "name_taken", "{conflict}");
    assert_eq!(find(r#""name": "manager""#).http, Some(409));
    assert_eq!(find("policies/$ANNOTATE -H").http, Some(409));
    let in_use = find("policies/$ANNOTATE -H").json();
    assert!(
        in_use["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Annotator"),
        "the refusal names the role: {in_use}"
    );
    assert_eq!(
        find("policies/$ANNOTATE?cascade=true").json()["deleted"],
        true
    );
    let grace = find(r#"me?project_id=$PROJECT" -H "Authorization: Bearer $GRACE_KEY"#).json();
    let grace_id = grace["principal"].as_str().unwrap().to_owned();
    assert!(
        grace["permissions"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p == "dataset:update"),
        "{grace}"
    );
    assert!(find("api-keys -H").json()["secret"]
        .as_str()
        .unwrap()
        .starts_with("wdn_"));
    let check = find("/v1/check -H").json();
    assert_eq!(check["allowed"], true, "{check}");
    let batch = find("/v1/check/batch").json();
    assert_eq!(batch["results"][0]["allowed"], true, "{batch}");
    let explain = find("/v1/explain").json();
    assert_eq!(explain["allowed"], true, "{explain}");
    let team = find("/teams -H").json()["id"].clone();
    assert!(
        explain["grants"]
            .as_array()
            .unwrap()
            .iter()
            .any(|g| g["via_team"] == team),
        "the grant came through the team {team}: {explain}"
    );
    let who = find("permissions/dataset:update/principals").json();
    assert!(who.to_string().contains(&grace_id), "{who}");
    let audit = find("audit-events?action=role.create").json();
    let events = audit["items"].as_array().unwrap();
    assert!(
        !events.is_empty() && events.iter().all(|e| e["action"] == "role.create"),
        "{audit}"
    );
    let cli_check = find("warden check user:$GRACE");
    assert!(
        cli_check.output.starts_with("allowed"),
        "{}",
        cli_check.output
    );
    let cli_explain = &find("warden explain").output;
    assert!(
        cli_explain.contains(&format!("through team:{}", team.as_str().unwrap())),
        "{cli_explain}"
    );

    let completions = &find("warden completions bash").output;
    assert!(completions.contains("complete -F"), "{completions}");

    eprintln!(
        "{} README calls ran in {:.1} s",
        ran.len(),
        started.elapsed().as_secs_f64()
    );
}
