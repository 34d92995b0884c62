//! `make run` (scripts/run.sh) started for real by a test: its state in a temporary
//! directory (`MTLS_GATE_RUN_DIR`), the binaries `make test-e2e` built (`MTLS_GATE_NO_BUILD=1`),
//! so a developer's own `run/` and demo are never touched.
//!
//! Two ways to keep off a developer's ports ([`Setup::new`], [`Setup::isolated`]):
//! - free ports, through the `*_PORT` variables the script honours (`make_run.rs`, which
//!   also checks what the script says about ports);
//! - the script's default ports (8443, 8181, …) in a network namespace of its own, so text
//!   that names those ports, as the README does, runs unchanged (`readme_recipes.rs`; other
//!   processes join it with [`Demo::enter_command`]).

use anyhow::{Context, Result, bail, ensure};
use mtls_gate_testkit::{free_port, paths, wait};
use std::fs::File;
use std::net::TcpStream;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::Duration;

/// A start, from nothing to "demo is up" (certificates, shim, uploads, render, Envoy, first
/// sync), is about 4 s on 2 cores; this allows for a loaded machine.
const UP: Duration = Duration::from_secs(90);
/// A refusal happens before anything starts.
const REFUSAL: Duration = Duration::from_secs(30);
/// Ctrl-C to everything stopped.
const STOP: Duration = Duration::from_secs(30);

/// The port variables of scripts/run.sh, with its defaults.
const PORTS: [(&str, u16); 5] = [
    ("TLS_PORT", 8443),
    ("PLAIN_PORT", 8080),
    ("ADMIN_PORT", 9901),
    ("SHIM_PORT", 8181),
    ("ECHO_PORT", 9443),
];

/// One demo directory and its ports, shared by every start in a test.
pub struct Setup {
    dir: tempfile::TempDir,
    ports: [(&'static str, u16); 5],
    /// Starts run in a user + network namespace of their own (see [`Setup::isolated`]).
    isolated: bool,
    shim: PathBuf,
    wasm: PathBuf,
    envoy: PathBuf,
    echo: PathBuf,
}

impl Setup {
    /// Free ports on the host's loopback.
    pub fn new() -> Result<Self> {
        let mut ports = PORTS;
        for (_, port) in ports.iter_mut() {
            *port = free_port()?;
        }
        Self::with(ports, false)
    }

    /// The script's default ports, on the loopback of a network namespace made for each start
    /// (`unshare --user --map-root-user --net`, which needs no privilege where unprivileged user
    /// namespaces are allowed). Nothing on the host's ports is touched or seen: host-side
    /// helpers ([`Setup::shim_cli`], [`Setup::nothing_listens`]) do not reach such a demo; run
    /// commands in it with [`Demo::enter_command`].
    pub fn isolated() -> Result<Self> {
        let probe = Command::new("unshare")
            .args(["--user", "--map-root-user", "--net", "true"])
            .output()
            .context("running unshare (util-linux)")?;
        ensure!(
            probe.status.success(),
            "this test runs the demo on its default ports in a network namespace of its own, and \
             this machine refuses one (unshare --user --map-root-user --net: {}{})",
            String::from_utf8_lossy(&probe.stderr).trim(),
            probe.status
        );
        Self::with(PORTS, true)
    }

    fn with(ports: [(&'static str, u16); 5], isolated: bool) -> Result<Self> {
        Ok(Setup {
            dir: tempfile::tempdir()?,
            ports,
            isolated,
            shim: paths::shim_bin()?,
            wasm: paths::filter_wasm()?,
            envoy: paths::envoy_bin()?,
            echo: paths::tool_bin("echo-upstream")?,
        })
    }

    /// The temporary directory; the demo's state is its `run/`.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn run_dir(&self) -> PathBuf {
        self.dir.path().join("run")
    }

    pub fn file(&self, name: &str) -> PathBuf {
        self.run_dir().join(name)
    }

    pub fn read(&self, name: &str) -> Result<String> {
        let path = self.file(name);
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))
    }

    pub fn port(&self, name: &str) -> u16 {
        self.ports
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, p)| *p)
            .unwrap_or_default()
    }

    pub fn shim_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port("SHIM_PORT"))
    }

    /// The shim binary the demo runs (also its CLI).
    pub fn shim_bin(&self) -> &Path {
        &self.shim
    }

    /// Starts `scripts/run.sh` in its own process group (as a terminal would), with `env` on
    /// top of the test's settings; its output goes to `<tmp>/<name>.log`.
    pub fn start(&self, name: &str, env: &[(&str, &str)]) -> Result<Demo> {
        let log = self.dir.path().join(format!("{name}.log"));
        let out = File::create(&log)?;
        let script = paths::repo_root().join("scripts/run.sh");
        // `env --default-signal=INT`: a shell started from a background job ignores SIGINT,
        // and bash cannot trap a signal ignored at entry; a terminal's Ctrl-C is what we test.
        let mut cmd = if self.isolated {
            // unshare execs (no fork without a PID namespace), so the script keeps this pid
            // and process group; a new namespace's loopback starts down.
            let mut cmd = Command::new("unshare");
            cmd.args(["--user", "--map-root-user", "--net", "--", "sh", "-c"])
                .arg(r#"ip link set lo up && exec env --default-signal=INT bash "$0""#)
                .arg(&script);
            cmd
        } else {
            let mut cmd = Command::new("env");
            cmd.arg("--default-signal=INT").arg("bash").arg(&script);
            cmd
        };
        cmd.current_dir(paths::repo_root())
            .env_remove("FRESH")
            .env_remove("MTLS_GATE_SECRET")
            .env_remove("MTLS_GATE_FEED_TOKEN")
            .env("MTLS_GATE_RUN_DIR", self.run_dir())
            .env("MTLS_GATE_NO_BUILD", "1")
            .env("MTLS_GATE_SHIM_BIN", &self.shim)
            .env("MTLS_GATE_FILTER_WASM", &self.wasm)
            .env("ENVOY", &self.envoy)
            .env("ECHO_UPSTREAM_BIN", &self.echo)
            .stdin(Stdio::null())
            .stdout(out.try_clone()?)
            .stderr(out)
            .process_group(0);
        for (name, port) in self.ports {
            cmd.env(name, port.to_string());
        }
        for (key, value) in env {
            cmd.env(key, value);
        }
        let child = cmd.spawn().context("starting scripts/run.sh")?;
        Ok(Demo {
            child,
            log,
            isolated: self.isolated,
        })
    }

    /// A start that must refuse: its exit status (non-zero) and output.
    pub fn refused(&self, name: &str, env: &[(&str, &str)]) -> Result<String> {
        let mut demo = self.start(name, env)?;
        let status = demo.wait_exit(REFUSAL)?;
        let output = demo.output();
        ensure!(
            !status.success(),
            "a second start should refuse, it exited {status}:\n{output}"
        );
        ensure!(
            !output.contains("demo is up"),
            "a second start came up:\n{output}"
        );
        Ok(output)
    }

    /// `mtls-gate-shim certs ls` against the running demo: every certificate ID, sorted.
    pub fn certificate_ids(&self) -> Result<Vec<String>> {
        let out = self.shim_cli(&["certs", "ls"])?;
        let mut ids: Vec<String> = out.lines().map(str::to_owned).collect();
        ids.sort();
        Ok(ids)
    }

    /// The shim's CLI against the demo (host network only).
    pub fn shim_cli(&self, args: &[&str]) -> Result<String> {
        let out = Command::new(&self.shim)
            .args(args)
            .args(["--url", &self.shim_url()])
            .env("MTLS_GATE_SECRET", self.read("admin-secret")?.trim())
            .output()?;
        ensure!(
            out.status.success(),
            "mtls-gate-shim {args:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// Everything that must survive a refused start, byte for byte.
    pub fn state(&self) -> Result<Vec<(String, Vec<u8>)>> {
        let mut files = Vec::new();
        for name in ["admin-secret", "feed-token", "org", "gate.json", "run.pid"] {
            files.push((name.to_owned(), std::fs::read(self.file(name))?));
        }
        let certs = self.file("certs");
        let mut entries: Vec<_> = std::fs::read_dir(&certs)?.collect::<Result<_, _>>()?;
        entries.sort_by_key(|e| e.file_name());
        for entry in entries {
            let name = format!("certs/{}", entry.file_name().to_string_lossy());
            files.push((name, std::fs::read(entry.path())?));
        }
        Ok(files)
    }

    /// Every port closed (host network only).
    pub fn nothing_listens(&self) -> Result<()> {
        for (name, port) in self.ports {
            wait::until(&format!("{name} {port} closed"), STOP, || {
                Ok(TcpStream::connect(("127.0.0.1", port))
                    .is_err()
                    .then_some(()))
            })?;
        }
        Ok(())
    }
}

/// A running `scripts/run.sh`; its whole process group is killed on drop.
pub struct Demo {
    child: Child,
    log: PathBuf,
    isolated: bool,
}

impl Demo {
    /// The script's pid (also its process group).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn output(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits for "demo is up" and the end of the printed commands; returns the output.
    pub fn wait_up(&mut self) -> Result<String> {
        wait::until("the demo to come up", UP, || {
            let output = self.output();
            if output.contains("Ctrl-C stops everything.") {
                return Ok(Some(output));
            }
            if let Some(status) = self.child.try_wait()? {
                bail!("scripts/run.sh exited {status} before the demo was up:\n{output}");
            }
            Ok(None)
        })
        .with_context(|| self.output())
    }

    pub fn wait_exit(&mut self, timeout: Duration) -> Result<ExitStatus> {
        let child = &mut self.child;
        wait::until("scripts/run.sh to exit", timeout, || Ok(child.try_wait()?))
            .with_context(|| self.output())
    }

    /// Ctrl-C: SIGINT to the script's process group, as a terminal sends it.
    pub fn interrupt(&mut self) -> Result<ExitStatus> {
        signal_group("INT", self.child.id())?;
        self.wait_exit(STOP)
    }

    /// `program` run where the demo's processes run: in the namespaces of an isolated demo
    /// (`nsenter`, as its root, which is the test's own user outside), else as it is.
    pub fn enter_command(&self, program: &str) -> Command {
        if !self.isolated {
            return Command::new(program);
        }
        let mut cmd = Command::new("nsenter");
        cmd.arg(format!("--target={}", self.child.id()))
            .args(["--user", "--net", "--", program]);
        cmd
    }
}

impl Drop for Demo {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = signal_group("KILL", self.child.id());
            let _ = self.child.wait();
        }
    }
}

/// `kill -SIGNAL -- -PGID`.
pub fn signal_group(signal: &str, pgid: u32) -> Result<()> {
    let status = Command::new("kill")
        .args([&format!("-{signal}"), "--", &format!("-{pgid}")])
        .status()?;
    ensure!(status.success(), "kill -{signal} -{pgid}: {status}");
    Ok(())
}
