//! What the binary's tests share: the binary, and a `warden serve` on an ephemeral port.
// Each test binary uses a part of what is here.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub fn warden() -> Command {
    Command::new(env!("CARGO_BIN_EXE_warden"))
}

/// Removes the caller's `WARDEN_*` settings from `cmd`'s environment, so that it runs on
/// what the test gives it.
pub fn without_warden_env(cmd: &mut Command) -> &mut Command {
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("WARDEN_") {
            cmd.env_remove(name);
        }
    }
    cmd
}

/// A `warden serve` process on an ephemeral port; killed when dropped.
pub struct Server {
    child: Child,
    pub base: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    /// Kills the process with SIGKILL (what `Child::kill` sends on Unix: no shutdown, no
    /// flush, as a crash or the OOM killer would) and reaps it; returns how it ended.
    pub fn kill(&mut self) -> std::process::ExitStatus {
        let _ = self.child.kill();
        self.child.wait().expect("reap warden serve")
    }

    /// The process id, to read its resident size.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

/// Starts `warden serve` in `dir` (so its default database is `dir/warden.db`) with `extra`
/// flags, and waits for it to print its address.
pub fn serve(dir: &std::path::Path, extra: &[&str]) -> Server {
    let mut child = without_warden_env(&mut warden())
        .current_dir(dir)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .args(extra)
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("start warden serve");
    let stderr = child.stderr.take().unwrap();
    let mut lines = BufReader::new(stderr).lines();
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        let Some(Ok(line)) = lines.next() else { break };
        if let Some(url) = line.strip_prefix("warden listening on ") {
            let base = url.trim().to_owned();
            // Keep draining stderr so that the server never blocks on a full pipe.
            std::thread::spawn(move || for _ in lines {});
            return Server { child, base };
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("warden serve did not print its address");
}

/// Runs `warden bootstrap` on `database` (from `dir`) and returns the Owner API key it prints.
pub fn bootstrap_owner(dir: &std::path::Path, database: &str, org: &str) -> String {
    let out = without_warden_env(&mut warden())
        .current_dir(dir)
        .args(["bootstrap", "--database", database, "--org", org])
        .args(["--owner-email", "owner@acme.example"])
        .output()
        .expect("run warden bootstrap");
    assert!(
        out.status.success(),
        "warden bootstrap failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// A small deterministic generator (SplitMix64), so that a failing run can be replayed from
/// the seed it prints.
pub struct Rng(pub u64);

impl Rng {
    /// Seeded from `WARDEN_TEST_SEED` when set, from the clock otherwise; prints the seed.
    pub fn from_env() -> Rng {
        let seed = std::env::var("WARDEN_TEST_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(7, |d| d.as_nanos() as u64)
            });
        eprintln!("seed: WARDEN_TEST_SEED={seed}");
        Rng(seed)
    }

    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`n > 0`).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    /// One of `items`, or `None` when there are none.
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> Option<&'a T> {
        if items.is_empty() {
            None
        } else {
            Some(&items[self.below(items.len())])
        }
    }

    /// True with probability `percent`/100.
    pub fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }
}
