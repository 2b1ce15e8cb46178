//! A server's log as it writes it: every stderr line kept, read on a thread of its own so
//! that the server never blocks on a full pipe.
// Each test binary uses a part of it.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Clone, Default)]
pub struct LogLines(Arc<Mutex<Vec<String>>>);

impl LogLines {
    /// Starts reading `pipe` to its end.
    pub fn read(pipe: impl Read + Send + 'static) -> Self {
        let lines = LogLines::default();
        let kept = lines.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                kept.0.lock().unwrap().push(line);
            }
        });
        lines
    }

    /// The rest of the first line starting with `prefix`, waiting up to 30 s for it.
    pub fn wait_for(&self, prefix: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Some(rest) = self
                .0
                .lock()
                .unwrap()
                .iter()
                .find_map(|l| l.strip_prefix(prefix))
            {
                return rest.to_owned();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!(
            "the server never logged `{prefix}`: {:?}",
            self.0.lock().unwrap()
        );
    }

    /// Whether a line contains `needle`.
    pub fn contains(&self, needle: &str) -> bool {
        self.0.lock().unwrap().iter().any(|l| l.contains(needle))
    }

    /// Everything logged so far.
    pub fn text(&self) -> String {
        self.0.lock().unwrap().join("\n")
    }
}
