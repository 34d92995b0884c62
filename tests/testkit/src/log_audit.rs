//! No secret in any log (issue 13): every secret a launcher hands a process is registered
//! here, and whenever any [`crate::process::Process`] stops, its log is searched for every
//! secret registered so far in this test binary (a secret leaked into another process's log,
//! e.g. Envoy's, is found too).
//!
//! A hit is printed at once and, when `MTLS_GATE_LOG_AUDIT` names a file, appended to it as a
//! `LEAK` line; every log searched is appended as a `scanned` line. `make test` sets the
//! variable and fails on any `LEAK` line after the suites ran (the Makefile's `log-audit`
//! step), printing how many logs were searched. The lines name the secret's role and the log,
//! never the secret.

use std::io::Write;
use std::path::Path;
use std::sync::Mutex;

/// The file the results are appended to.
pub const AUDIT_ENV: &str = "MTLS_GATE_LOG_AUDIT";
/// Shorter values (test fixtures such as `same` or `first`) would match ordinary words.
const MIN_SECRET_LEN: usize = 12;

static SECRETS: Mutex<Vec<(String, String)>> = Mutex::new(Vec::new());

/// Registers `value` as a secret (`role` names it in reports).
pub fn register(role: &str, value: &str) {
    if value.len() < MIN_SECRET_LEN {
        return;
    }
    if let Ok(mut secrets) = SECRETS.lock()
        && !secrets.iter().any(|(_, v)| v == value)
    {
        secrets.push((role.to_owned(), value.to_owned()));
    }
}

/// The roles of the registered secrets that occur in `text`.
pub fn leaks_in(text: &str) -> Vec<String> {
    let Ok(secrets) = SECRETS.lock() else {
        return Vec::new();
    };
    secrets
        .iter()
        .filter(|(_, value)| text.contains(value.as_str()))
        .map(|(role, _)| role.clone())
        .collect()
}

/// Searches the log of process `name` and records the result in the file `MTLS_GATE_LOG_AUDIT`
/// names, if any.
pub fn audit(name: &str, log_path: &Path) {
    let out = std::env::var_os(AUDIT_ENV).map(std::path::PathBuf::from);
    audit_to(name, log_path, out.as_deref());
}

/// [`audit`], recording in `out`.
pub fn audit_to(name: &str, log_path: &Path, out: Option<&Path>) {
    let Ok(bytes) = std::fs::read(log_path) else {
        return;
    };
    let leaks = leaks_in(&String::from_utf8_lossy(&bytes));
    let mut lines = vec![format!("scanned {name} {}", log_path.display())];
    for role in &leaks {
        eprintln!(
            "SECRET IN LOG: the {role} appears in the log of {name} ({})",
            log_path.display()
        );
        lines.push(format!("LEAK {role} in {name} {}", log_path.display()));
    }
    let Some(file) = out else {
        return;
    };
    if let Ok(mut out) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(file)
    {
        // One write per process so parallel tests do not interleave lines.
        let _ = out.write_all(format!("{}\n", lines.join("\n")).as_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_a_registered_secret_and_ignores_short_values() {
        register("test secret", "a-secret-value-0123456789");
        register("short", "first");
        assert_eq!(
            leaks_in("2026 INFO token=a-secret-value-0123456789 ok"),
            vec!["test secret".to_string()]
        );
        assert!(leaks_in("the first sync").is_empty());
        assert!(leaks_in("a-secret-value-012345678").is_empty());
    }

    #[test]
    fn a_process_log_with_a_secret_is_recorded_as_a_leak() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let (clean, leaky) = (dir.path().join("clean.log"), dir.path().join("leaky.log"));
        register("feed token", "feed-token-that-must-not-be-logged");
        std::fs::write(&clean, "listening\n").unwrap_or_else(|e| panic!("{e}"));
        std::fs::write(&leaky, "token=feed-token-that-must-not-be-logged\n")
            .unwrap_or_else(|e| panic!("{e}"));
        let out = dir.path().join("audit.txt");
        audit_to("clean", &clean, Some(&out));
        audit_to("leaky", &leaky, Some(&out));
        let report = std::fs::read_to_string(&out).unwrap_or_else(|e| panic!("{e}"));
        let leaks: Vec<&str> = report.lines().filter(|l| l.starts_with("LEAK ")).collect();
        assert_eq!(leaks.len(), 1, "{report}");
        assert!(
            leaks.iter().all(|l| l.contains("feed token in leaky")),
            "{report}"
        );
        assert!(
            !report.contains("must-not-be-logged"),
            "the report repeats the secret"
        );
        assert_eq!(
            report.lines().filter(|l| l.starts_with("scanned ")).count(),
            2
        );
    }
}
