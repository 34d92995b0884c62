//! A real `redis-server` for tests: a free loopback port, its own data directory, AOF with
//! `fsync always`, RDB compression off, killed on drop. Used by the shim's Redis store tests
//! (unit and HTTP).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const READY_DEADLINE: Duration = Duration::from_secs(20);

pub struct RedisServer {
    child: Option<Child>,
    port: u16,
    dir: tempfile::TempDir,
    tls: Option<RedisTlsServer>,
}

/// `rediss://`: the server's certificate files, whether it requires client certificates, and
/// a password. The plain port stays open on loopback for the readiness check.
#[derive(Debug, Clone)]
pub struct RedisTlsServer {
    pub cert: PathBuf,
    pub key: PathBuf,
    /// CA of the client certificates it accepts.
    pub ca: PathBuf,
    pub require_client_cert: bool,
    pub password: Option<String>,
    pub tls_port: u16,
}

impl RedisServer {
    /// Starts a server; panics (never skips) when `redis-server` is not installed.
    pub fn start() -> Self {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
        let port = crate::ports::free_port().unwrap_or_else(|e| panic!("no free port: {e}"));
        let mut server = RedisServer {
            child: None,
            port,
            dir,
            tls: None,
        };
        server.restart();
        server
    }

    /// A server that also listens with TLS on a second free port (`tls_url`).
    pub fn start_tls(cert: &Path, key: &Path, ca: &Path, require_client_cert: bool) -> Self {
        Self::start_tls_with_password(cert, key, ca, require_client_cert, None)
    }

    /// [`RedisServer::start_tls`] with `requirepass`.
    pub fn start_tls_with_password(
        cert: &Path,
        key: &Path,
        ca: &Path,
        require_client_cert: bool,
        password: Option<&str>,
    ) -> Self {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
        let port = crate::ports::free_port().unwrap_or_else(|e| panic!("no free port: {e}"));
        let tls_port = crate::ports::free_port().unwrap_or_else(|e| panic!("no free port: {e}"));
        if let Some(password) = password {
            crate::log_audit::register("Redis password", password);
        }
        let mut server = RedisServer {
            child: None,
            port,
            dir,
            tls: Some(RedisTlsServer {
                cert: cert.to_path_buf(),
                key: key.to_path_buf(),
                ca: ca.to_path_buf(),
                require_client_cert,
                password: password.map(str::to_owned),
                tls_port,
            }),
        };
        server.restart();
        server
    }

    /// `rediss://[:password@]127.0.0.1:<tls port>` (no parameters).
    pub fn tls_url(&self) -> Option<String> {
        self.tls.as_ref().map(|tls| match &tls.password {
            Some(password) => format!("rediss://:{password}@127.0.0.1:{}", tls.tls_port),
            None => format!("rediss://127.0.0.1:{}", tls.tls_port),
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// The data directory (the AOF lives under it).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// SIGKILL: Redis gets no chance to flush anything.
    pub fn kill_9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// (Re)starts the server on the same port and directory, reloading the AOF.
    pub fn restart(&mut self) {
        self.kill_9();
        let mut command = Command::new("redis-server");
        if let Some(tls) = &self.tls {
            command
                .args(["--tls-port", &tls.tls_port.to_string()])
                .arg("--tls-cert-file")
                .arg(&tls.cert)
                .arg("--tls-key-file")
                .arg(&tls.key)
                .arg("--tls-ca-cert-file")
                .arg(&tls.ca)
                .args([
                    "--tls-auth-clients",
                    if tls.require_client_cert { "yes" } else { "no" },
                ]);
            if let Some(password) = &tls.password {
                command.args(["--requirepass", password]);
            }
        }
        let spawned = command
            .args(["--port", &self.port.to_string()])
            .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "yes"])
            .args(["--appendfsync", "always", "--daemonize", "no"])
            // LZF would hide plain text from the byte scans of the data files (it hides
            // nothing from an attacker), so the scans could not prove anything.
            .args(["--rdbcompression", "no"])
            .arg("--dir")
            .arg(self.dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        let child = match spawned {
            Ok(child) => child,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => panic!(
                "redis-server is not installed; the Redis store tests need it: \
                 apt-get install -y redis-server (or make sysdeps)"
            ),
            Err(e) => panic!("cannot start redis-server: {e}"),
        };
        self.child = Some(child);
        self.wait_ready();
    }

    fn wait_ready(&mut self) {
        let deadline = Instant::now() + READY_DEADLINE;
        loop {
            if ping(self.port) {
                return;
            }
            if let Some(Ok(Some(status))) = self.child.as_mut().map(Child::try_wait) {
                panic!("redis-server exited at start: {status}");
            }
            assert!(
                Instant::now() < deadline,
                "redis-server on port {} did not answer PING within {READY_DEADLINE:?}",
                self.port
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Every file under the data directory.
    pub fn data_files(&self) -> Vec<PathBuf> {
        fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
            for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
                let path = entry.path();
                if path.is_dir() {
                    walk(&path, out);
                } else {
                    out.push(path);
                }
            }
        }
        let mut files = Vec::new();
        walk(self.dir.path(), &mut files);
        files
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill_9();
    }
}

/// True when the server answers `+PONG` (while loading the AOF it answers `-LOADING`).
fn ping(port: u16) -> bool {
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(1)));
    if stream.write_all(b"PING\r\n").is_err() {
        return false;
    }
    let mut reply = [0u8; 7];
    // `-NOAUTH`: up, with a password.
    stream.read_exact(&mut reply).is_ok() && (&reply == b"+PONG\r\n" || &reply == b"-NOAUTH")
}
