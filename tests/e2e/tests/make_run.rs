//! `make run` (scripts/run.sh) is safe to repeat (issue 11): a second start while one runs
//! refuses before touching anything; Ctrl-C stops everything and removes the pid file; the
//! next start reuses the store, secrets and gate; expiring demo certificates are renewed;
//! `FRESH=1` starts over. Every `curl` line the script prints gives the answer its comment
//! documents.
//!
//! The script runs for real, with the binaries `make test-e2e` built
//! (`MTLS_GATE_NO_BUILD=1`), its state in a temporary directory (`MTLS_GATE_RUN_DIR`) and
//! free ports, so a developer's own `run/` and demo are never touched (the launcher is
//! `mtls_gate_e2e::demo`, shared with `readme_recipes.rs`). Each start takes a few seconds
//! (Envoy compiling the filter is most of it).

use anyhow::{Context, Result, ensure};
use mtls_gate_e2e::demo::{Demo, Setup};
use mtls_gate_testkit::{paths, wait};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

/// Ctrl-C to every child gone.
const STOP: Duration = Duration::from_secs(30);

/// What a printed command's comment says it answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Answer {
    Status(u16),
    /// "no HTTP answer (curl exit 55 or 56: ... a TLS alert)": curl reports the closed
    /// connection as a send (55) or a receive (56) failure, depending on timing.
    TlsAlert,
}

/// The `curl` lines of the demo's printed instructions, each with the answer documented in
/// the first line of the comment block above it (the stats line, "# filter counters", has
/// none and is skipped).
fn printed_curls(output: &str) -> Vec<(Answer, String)> {
    let instructions = output.split("demo is up").nth(1).unwrap_or_default();
    let mut curls = Vec::new();
    let mut comment: Option<&str> = None;
    let mut in_comment = false;
    for line in instructions.lines().map(str::trim) {
        if let Some(text) = line.strip_prefix('#') {
            if !in_comment {
                comment = Some(text.trim());
            }
            in_comment = true;
            continue;
        }
        in_comment = false;
        let said = comment.take();
        if !line.starts_with("curl ") {
            continue;
        }
        let answer = match said {
            Some(text) if text.starts_with("no HTTP answer (curl exit 55 or 56") => {
                Answer::TlsAlert
            }
            Some(text) => match text.get(..3).and_then(|code| code.parse().ok()) {
                Some(code) => Answer::Status(code),
                None => continue,
            },
            None => continue,
        };
        curls.push((answer, line.to_owned()));
    }
    curls
}

/// Runs one printed curl line as a user would (bash, from the repo root); returns what it
/// answered in the terms of [`Answer`], with its output for messages.
fn run_curl(line: &str, expected: Answer) -> Result<(Answer, String)> {
    let script = match expected {
        // The line ends with `; echo "exit $?"` already.
        Answer::TlsAlert => line.to_owned(),
        Answer::Status(_) => format!("{line} -o /dev/null -w 'HTTP %{{http_code}}'"),
    };
    let out = Command::new("bash")
        .args(["-c", &script])
        .current_dir(paths::repo_root())
        .output()?;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let answer = if let Some(code) = stdout.trim().strip_prefix("HTTP ") {
        Answer::Status(code.parse().unwrap_or(0))
    } else if matches!(stdout.trim(), "exit 55" | "exit 56") {
        Answer::TlsAlert
    } else {
        Answer::Status(0)
    };
    Ok((answer, stdout))
}

/// Every printed curl line answers as its comment says.
fn assert_printed_curls_answer(output: &str) -> Result<()> {
    let curls = printed_curls(output);
    let count = |answer| curls.iter().filter(|(a, _)| *a == answer).count();
    // static, static /public/, dynamic, upstream; two 403s on static; 401 on dynamic; the
    // rogue's TLS alert on upstream: if the parse finds fewer, the printed text changed.
    assert_eq!(count(Answer::Status(200)), 4, "{curls:#?}");
    assert_eq!(count(Answer::Status(403)), 2, "{curls:#?}");
    assert_eq!(count(Answer::Status(401)), 1, "{curls:#?}");
    assert_eq!(count(Answer::TlsAlert), 1, "{curls:#?}");
    for (expected, line) in &curls {
        let (got, stdout) = run_curl(line, *expected)?;
        assert_eq!(got, *expected, "{line}\nanswered: {stdout}");
    }
    Ok(())
}

/// The first printed curl (static mTLS, the allowed client): 200.
fn assert_first_curl_is_200(output: &str) -> Result<()> {
    let curls = printed_curls(output);
    let (expected, line) = curls.first().context("no printed curl")?;
    assert_eq!(*expected, Answer::Status(200), "{line}");
    let (got, stdout) = run_curl(line, *expected)?;
    assert_eq!(got, Answer::Status(200), "{line}\nanswered: {stdout}");
    Ok(())
}

/// The dynamic API's printed curl (certificate auth through the key demo-client2): 200.
fn assert_key_works(output: &str) -> Result<()> {
    let curls = printed_curls(output);
    let (_, line) = curls
        .iter()
        .find(|(_, line)| line.contains("client2.pem"))
        .context("no printed curl with client2")?;
    let (got, stdout) = run_curl(line, Answer::Status(200))?;
    assert_eq!(got, Answer::Status(200), "{line}\nanswered: {stdout}");
    Ok(())
}

/// The pids run.sh recorded for its children.
fn child_pids(pid_file: &str) -> Vec<u32> {
    pid_file
        .lines()
        .filter_map(|line| line.split_once('='))
        .filter(|(name, _)| matches!(*name, "shim" | "echo" | "envoy"))
        .filter_map(|(_, pid)| pid.parse().ok())
        .collect()
}

/// Ctrl-C: the script exits, its children are gone, the ports are free, the pid file is
/// removed, and the state stays.
fn stop(setup: &Setup, demo: &mut Demo) -> Result<()> {
    let pids = child_pids(&setup.read("run.pid")?);
    assert_eq!(pids.len(), 3, "shim, echo and envoy in run.pid");
    demo.interrupt()?;
    for pid in pids {
        let proc = PathBuf::from(format!("/proc/{pid}"));
        wait::until(&format!("pid {pid} gone"), STOP, || {
            Ok((!proc.exists()).then_some(()))
        })?;
    }
    setup.nothing_listens()?;
    assert!(!setup.file("run.pid").exists(), "{}", demo.output());
    assert!(
        demo.output().contains("run.pid removed"),
        "{}",
        demo.output()
    );
    assert!(setup.file("mtls-gate.db").exists(), "the store stays");
    Ok(())
}

fn certificate_id(setup: &Setup, name: &str) -> Result<String> {
    let out = Command::new("openssl")
        .args(["x509", "-noout", "-fingerprint", "-sha256", "-in"])
        .arg(setup.file(&format!("certs/{name}.pem")))
        .output()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let hex = text
        .trim()
        .split_once('=')
        .map(|(_, fp)| fp.replace(':', "").to_lowercase())
        .context("openssl fingerprint")?;
    Ok(format!("demo{hex}"))
}

fn assert_contains(output: &str, needle: &str) {
    assert!(output.contains(needle), "expected {needle:?} in:\n{output}");
}

#[test]
fn make_run_refuses_a_second_start_keeps_state_renews_and_starts_fresh_on_request() -> Result<()> {
    let setup = Setup::new()?;
    let run = setup.run_dir().display().to_string();

    // 1. The first start: fresh state, every step announced, every printed curl as documented.
    let mut first = setup.start("first", &[])?;
    let output = first.wait_up()?;
    assert_contains(
        &output,
        &format!("fresh demo state (no store in {run}/ yet)"),
    );
    for step in 1..=9 {
        assert_contains(&output, &format!("==> [{step}/9] "));
    }
    assert_printed_curls_answer(&output)?;
    // A certificate of the user's own, which only a kept store still has after a restart.
    setup.shim_cli(&[
        "certs",
        "add",
        &setup.file("certs/rogue.pem").display().to_string(),
        "--org",
        "demo",
    ])?;
    let secret = setup.read("admin-secret")?;
    let certificates = setup.certificate_ids()?;
    assert_eq!(certificates.len(), 4, "{certificates:?}");
    let state = setup.state()?;
    let store_files = ["mtls-gate.db", "mtls-gate.db-wal"].map(|f| setup.file(f));

    // 2. A second start while it runs refuses before touching anything, FRESH=1 included.
    for (name, env) in [("second", &[][..]), ("second-fresh", &[("FRESH", "1")][..])] {
        let output = setup.refused(name, env)?;
        assert_contains(&output, "a demo is already running");
        assert_contains(&output, &format!("run.sh pid {}", first.pid()));
        assert_contains(&output, &format!("kill {}", first.pid()));
        assert_contains(&output, &format!("SHIM_PORT={}", setup.port("SHIM_PORT")));
        assert_contains(&output, "nothing was changed");
        assert!(store_files.iter().all(|f| f.exists()), "the store stays");
        assert!(setup.state()? == state, "run/ changed:\n{output}");
        assert_eq!(setup.certificate_ids()?, certificates);
        assert_first_curl_is_200(&first.output())?;
    }

    // 3. Ctrl-C stops everything and removes the pid file.
    stop(&setup, &mut first)?;
    drop(first);

    // 4. A port taken by something else: refused, naming the port.
    {
        let squatter = TcpListener::bind(("127.0.0.1", setup.port("ECHO_PORT")))?;
        let output = setup.refused("port-taken", &[])?;
        assert_contains(&output, "port(s) already in use");
        assert_contains(&output, &format!("ECHO_PORT={}", setup.port("ECHO_PORT")));
        assert!(!setup.file("run.pid").exists(), "{output}");
        drop(squatter);
    }

    // 5. A stale pid file (its process gone) is noted and ignored; the state is reused.
    let mut gone = Command::new("true").spawn()?;
    gone.wait()?;
    std::fs::write(setup.file("run.pid"), format!("pid={}\n", gone.id()))?;
    let mut again = setup.start("again", &[])?;
    let output = again.wait_up()?;
    assert_contains(&output, &format!("stale pid file {run}/run.pid"));
    assert_contains(
        &output,
        &format!(
            "reusing {run}/ from a previous run: store with 4 certificates, your {run}/gate.json kept"
        ),
    );
    assert_contains(&output, "client: already in the store");
    assert_contains(&output, "key demo-client2: already in the store");
    assert_eq!(setup.read("admin-secret")?, secret, "same admin secret");
    assert_eq!(setup.certificate_ids()?, certificates, "same store");
    assert_first_curl_is_200(&output)?;
    assert_key_works(&output)?;
    stop(&setup, &mut again)?;
    drop(again);

    // 6. A demo certificate expiring within a day: all renewed, the store and the gate move
    //    to the new IDs, and the demo answers as before.
    let old_client = certificate_id(&setup, "client")?;
    let rogue = setup.file("certs/rogue");
    let status = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-new",
            "-subj",
            "/CN=rogue",
            "-days",
            "1",
            "-key",
        ])
        .arg(rogue.with_extension("key"))
        .arg("-out")
        .arg(rogue.with_extension("pem"))
        .status()?;
    ensure!(status.success(), "openssl: {status}");
    let mut renewed = setup.start("renewed", &[])?;
    let output = renewed.wait_up()?;
    assert_contains(&output, "expired or expiring within a day: rogue.pem");
    assert_contains(&output, "renewing all of them");
    let new_client = certificate_id(&setup, "client")?;
    assert_ne!(new_client, old_client);
    assert_contains(
        &output,
        &format!("its ID in {run}/gate.json is now {new_client}"),
    );
    let gate = setup.read("gate.json")?;
    assert!(
        gate.contains(&new_client) && !gate.contains(&old_client),
        "{gate}"
    );
    let ids = setup.certificate_ids()?;
    assert!(
        ids.contains(&new_client) && !ids.contains(&old_client),
        "{ids:?}"
    );
    assert_eq!(setup.read("admin-secret")?, secret, "same admin secret");
    assert_printed_curls_answer(&output)?;
    stop(&setup, &mut renewed)?;
    drop(renewed);

    // 7. FRESH=1: a new store and a new secret.
    let mut fresh = setup.start("fresh", &[("FRESH", "1")])?;
    let output = fresh.wait_up()?;
    assert_contains(
        &output,
        &format!("fresh demo state (FRESH=1: {run}/ wiped)"),
    );
    assert_ne!(setup.read("admin-secret")?, secret, "a new admin secret");
    assert_eq!(
        setup.certificate_ids()?.len(),
        3,
        "only the demo's certificates"
    );
    assert_first_curl_is_200(&output)?;
    stop(&setup, &mut fresh)?;
    Ok(())
}

#[test]
fn printed_curls_are_parsed_with_their_documented_answers() {
    let output = "mtls-gate demo is up. From /x, try:\n\n  # 200: ok\n  curl a\n  # 403 {\"error\": \"x\"}: rogue\n  # second comment line\n  curl b\n  # revoke\n  shim keys rm x\n\n  # no HTTP answer (curl exit 55 or 56: a TLS alert): y\n  curl c; echo \"exit $?\"\n  # filter counters\n  curl -s stats\n";
    assert_eq!(
        printed_curls(output),
        [
            (Answer::Status(200), "curl a".to_owned()),
            (Answer::Status(403), "curl b".to_owned()),
            (Answer::TlsAlert, "curl c; echo \"exit $?\"".to_owned()),
        ]
    );
}
