//! The bench's second measure (`--instructions`, `make bench-instructions`): the instructions
//! Envoy executes per request, counted by Valgrind's callgrind. Envoy runs under
//! `scripts/envoy-callgrind.sh`; around each load run the bench zeroes its counters and dumps
//! them (`callgrind_control -z`, `-d`).
//!
//! Why a second measure: CPU time per request on this shared VM moves by ±25 % between the
//! rounds of one run, so a cost ratio of 0.90 cannot be told from 0.95 by CPU time. An
//! instruction count is the same from one run to the next (within about 0.3 %), whatever else
//! the machine does. It is not the time: it weighs a cache miss like an add. So it answers
//! "how much work", and the CPU-time bench "how long".
//!
//! Each count is the difference of two runs on fresh connections, [`SHORT`] and [`LONG`]
//! requests: the handshakes, the connection setup and Envoy's timers cancel out, and what is
//! left is the work of `LONG - SHORT` requests.

use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// Requests of the short and the long run of one count.
pub const SHORT: u64 = 300;
pub const LONG: u64 = 1_500;
/// Requests each scenario serves before it is counted: V8 has tiered its hot functions up,
/// and the caches the filter keeps per worker are warm.
pub const WARM_UP: u64 = 3_000;

/// Where callgrind writes the dumps of every Envoy of the run (`CALLGRIND_DIR`).
pub struct Callgrind {
    dir: PathBuf,
}

impl Callgrind {
    /// The dumps' folder from the environment `scripts/bench.sh instructions` sets.
    pub fn from_env() -> Result<Self> {
        let dir = std::env::var_os("CALLGRIND_DIR")
            .map(PathBuf::from)
            .context(
                "--instructions needs CALLGRIND_DIR (scripts/bench.sh instructions sets it)",
            )?;
        if !dir.is_dir() {
            bail!("CALLGRIND_DIR {} is not a folder", dir.display());
        }
        Ok(Callgrind { dir })
    }

    /// Zeroes `pid`'s counters.
    pub fn zero(&self, pid: u32) -> Result<()> {
        control(&["-z", &pid.to_string()])
    }

    /// The instructions `pid` executed since its counters were last zeroed, read from the
    /// dump that `callgrind_control -d` makes (which also zeroes them).
    pub fn dump(&self, pid: u32) -> Result<u64> {
        let before = self.dumps(pid)?;
        control(&["-d", &pid.to_string()])?;
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let after = self.dumps(pid)?;
            if let Some(new) = after.iter().find(|p| !before.contains(p)) {
                // callgrind writes the file, then the summary line near its top: read until
                // the file is complete (its `totals:` line is the last thing written).
                let text = std::fs::read_to_string(new).unwrap_or_default();
                if text.contains("\ntotals:") {
                    return summary(&text)
                        .with_context(|| format!("no `summary:` line in {}", new.display()));
                }
            }
            if Instant::now() > deadline {
                bail!("callgrind wrote no dump for pid {pid} within 60 s");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The numbered dumps of `pid` (`envoy.<pid>.<n>`).
    fn dumps(&self, pid: u32) -> Result<Vec<PathBuf>> {
        let prefix = format!("envoy.{pid}.");
        Ok(std::fs::read_dir(&self.dir)?
            .flatten()
            .map(|e| e.path())
            .filter(|p| is_dump_of(p, &prefix))
            .collect())
    }
}

fn is_dump_of(path: &Path, prefix: &str) -> bool {
    path.file_name()
        .and_then(|n| n.to_str())
        .and_then(|n| n.strip_prefix(prefix))
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

fn control(args: &[&str]) -> Result<()> {
    let out = Command::new("callgrind_control")
        .args(args)
        .output()
        .context("running callgrind_control (Debian: valgrind)")?;
    if !out.status.success() {
        bail!(
            "callgrind_control {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(())
}

/// The `summary:` of a callgrind dump: the instructions (its only event, `Ir`) of this part.
pub fn summary(dump: &str) -> Option<u64> {
    dump.lines()
        .find_map(|line| line.strip_prefix("summary:"))
        .and_then(|n| n.trim().parse().ok())
}

/// Instructions per request from a short and a long count, each (instructions, requests).
pub fn per_request(short: (u64, u64), long: (u64, u64)) -> f64 {
    let requests = long.1.saturating_sub(short.1);
    if requests == 0 {
        return f64::NAN;
    }
    (long.0 as f64 - short.0 as f64) / requests as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_is_the_parts_instruction_count() {
        let dump = "version: 1\ncreator: callgrind-3.19.0\npart: 3\n\nevents: Ir\nsummary: 12000113\n\nfn=(1) x\n0 5\ntotals: 12710922\n";
        assert_eq!(summary(dump), Some(12_000_113));
        assert_eq!(summary("events: Ir\ntotals: 5\n"), None);
    }

    #[test]
    fn per_request_is_the_difference_of_the_two_counts() {
        assert_eq!(
            per_request((76_000_000, 300), (335_500_000, 1_500)),
            216_250.0
        );
        assert!(per_request((1, 300), (2, 300)).is_nan());
    }

    #[test]
    fn only_numbered_dumps_of_the_pid_count() {
        let p = |s: &str| PathBuf::from(format!("/x/{s}"));
        assert!(is_dump_of(&p("envoy.42.3"), "envoy.42."));
        assert!(!is_dump_of(&p("envoy.42"), "envoy.42."));
        assert!(!is_dump_of(&p("envoy.421.3"), "envoy.42."));
        assert!(!is_dump_of(&p("envoy.42.3.tmp"), "envoy.42."));
    }
}
