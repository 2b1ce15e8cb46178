//! What the binary's tests share: the binary, and a `warden serve` on an ephemeral port.

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
