//! A child process owned by a test: its stdout and stderr go to a log file, it is stopped when
//! the guard is dropped (also when the test panics), and its log is printed when the test fails.
//! [`rss_kib`] reads any process's resident memory (the soak's flat-memory check).

use anyhow::{Context, Result, bail};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// How long a process gets to exit after SIGTERM before it is killed.
const GRACE: Duration = Duration::from_secs(3);
/// How much of the log is printed when a test fails.
const LOG_TAIL_LINES: usize = 120;

pub struct Process {
    name: String,
    child: Child,
    log_path: PathBuf,
}

impl Process {
    /// Starts `cmd` with stdin closed and stdout + stderr appended to `log_path`.
    pub fn spawn(name: &str, mut cmd: Command, log_path: &Path) -> Result<Self> {
        let log = File::options()
            .create(true)
            .append(true)
            .open(log_path)
            .with_context(|| format!("creating {}", log_path.display()))?;
        let child = cmd
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .with_context(|| format!("starting {name}: {cmd:?}"))?;
        Ok(Self {
            name: name.to_string(),
            child,
            log_path: log_path.to_path_buf(),
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn log_path(&self) -> &Path {
        &self.log_path
    }

    /// Everything the process has written so far.
    pub fn log(&self) -> String {
        std::fs::read(&self.log_path)
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default()
    }

    /// Fails, with the log tail, if the process has exited. Use it inside readiness polls so a
    /// crash at start-up fails at once instead of at the deadline.
    pub fn ensure_running(&mut self) -> Result<()> {
        if let Some(status) = self.child.try_wait()? {
            bail!(
                "{} exited early ({status}); log {}:\n{}",
                self.name,
                self.log_path.display(),
                self.log_tail()
            );
        }
        Ok(())
    }

    /// The last lines of the log.
    pub fn log_tail(&self) -> String {
        let log = self.log();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(LOG_TAIL_LINES)..].join("\n")
    }

    /// The exit status once the process has exited; `None` while it runs.
    pub fn try_status(&mut self) -> Result<Option<ExitStatus>> {
        self.child
            .try_wait()
            .with_context(|| format!("waiting for {}", self.name))
    }

    /// SIGTERM, then SIGKILL after a grace period. Idempotent.
    pub fn stop(&mut self) {
        let _ = self.terminate(GRACE);
    }

    /// SIGTERM, then the exit status once the process exited. If it is still running after
    /// `timeout`, it is killed (SIGKILL) and that is an error.
    pub fn terminate(&mut self, timeout: Duration) -> Result<ExitStatus> {
        if let Some(status) = self.child.try_wait()? {
            return Ok(status);
        }
        // std only sends SIGKILL; SIGTERM lets Envoy and the shim shut down cleanly.
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait()? {
                return Ok(status);
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        self.kill();
        bail!(
            "{} ignored SIGTERM for {timeout:?} and was killed",
            self.name
        )
    }

    /// SIGKILL (no chance to flush anything), and reaps the process. Idempotent.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The resident set size of process `pid` in KiB: `VmRSS` of `/proc/<pid>/status` (Linux),
/// what `ps` and `top` show as RSS.
pub fn rss_kib(pid: u32) -> Result<u64> {
    let path = format!("/proc/{pid}/status");
    let status = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
    parse_vm_rss_kib(&status).with_context(|| format!("no VmRSS line in {path}"))
}

/// `VmRSS:    123456 kB` → 123456.
fn parse_vm_rss_kib(status: &str) -> Option<u64> {
    let line = status.lines().find_map(|l| l.strip_prefix("VmRSS:"))?;
    let kib = line.trim().strip_suffix("kB")?;
    kib.trim().parse().ok()
}

impl Drop for Process {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "----- {} (pid {}) log {} (last {LOG_TAIL_LINES} lines) -----\n{}\n----- end of {} log -----",
                self.name,
                self.child.id(),
                self.log_path.display(),
                self.log_tail(),
                self.name
            );
        }
        self.stop();
        crate::log_audit::audit(&self.name, &self.log_path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drop_stops_the_child_and_log_captures_output() {
        let dir = tempfile::tempdir().unwrap();
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "echo hello-from-child; exec sleep 600"]);
        let mut p = Process::spawn("sleeper", cmd, &dir.path().join("log")).unwrap();
        let pid = p.pid();
        crate::wait::until("child output", Duration::from_secs(5), || {
            Ok(p.log().contains("hello-from-child").then_some(()))
        })
        .unwrap();
        p.ensure_running().unwrap();
        drop(p);
        // The guard reaps the child, so its /proc entry is gone once it is dead.
        assert!(
            !Path::new(&format!("/proc/{pid}")).exists(),
            "child {pid} survived the guard's drop"
        );
    }

    #[test]
    fn rss_is_read_from_proc_status() {
        let own = rss_kib(std::process::id()).unwrap();
        assert!(own > 0, "this test process has a resident set");
        assert_eq!(
            parse_vm_rss_kib("Name:\tenvoy\nVmRSS:\t  123456 kB\nThreads:\t9\n"),
            Some(123_456)
        );
        assert_eq!(parse_vm_rss_kib("Name:\tzombie\n"), None);
        assert!(rss_kib(u32::MAX).is_err(), "no such process");
    }

    #[test]
    fn ensure_running_reports_an_early_exit_with_its_log() {
        let dir = tempfile::tempdir().unwrap();
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "echo boom-reason; exit 3"]);
        let mut p = Process::spawn("crasher", cmd, &dir.path().join("log")).unwrap();
        let err = crate::wait::until("exit", Duration::from_secs(5), || {
            p.ensure_running().map(|()| None::<()>)
        })
        .unwrap_err();
        assert!(err.to_string().contains("boom-reason"), "{err:#}");
    }
}
