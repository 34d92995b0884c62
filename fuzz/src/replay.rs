//! Replays a target's committed inputs: `seeds/<target>/` and `regressions/<target>/` (the
//! inputs of crashes found, kept once fixed). A file named `ok-*` must be accepted and `bad-*`
//! refused; any other name (a crash input keeps libFuzzer's `crash-<sha1>`) must only not
//! panic. Included by the crates' `tests/fuzz_regressions.rs`.

use std::path::Path;

/// How many files of each kind one target replayed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Replayed {
    pub seeds: usize,
    pub regressions: usize,
}

/// Runs every committed input of `target` through `run`. `Err` names the file whose verdict
/// is not what its name says, or a folder that cannot be read.
pub fn replay(fuzz_dir: &Path, target: &str, run: fn(&[u8]) -> bool) -> Result<Replayed, String> {
    let mut replayed = Replayed::default();
    for (folder, count) in [
        ("seeds", &mut replayed.seeds),
        ("regressions", &mut replayed.regressions),
    ] {
        let dir = fuzz_dir.join(folder).join(target);
        // No crash kept for a target: no regressions folder.
        if folder == "regressions" && !dir.exists() {
            continue;
        }
        let entries = std::fs::read_dir(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let mut paths: Vec<_> = entries
            .filter_map(|entry| entry.ok().map(|entry| entry.path()))
            .filter(|path| path.is_file())
            .collect();
        paths.sort();
        for path in paths {
            let data = std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
            let name = path
                .file_name()
                .map(|name| name.to_string_lossy().into_owned())
                .unwrap_or_default();
            let accepted = run(&data);
            let wanted = if name.starts_with("ok-") {
                Some(true)
            } else if name.starts_with("bad-") {
                Some(false)
            } else {
                None
            };
            if wanted.is_some_and(|wanted| wanted != accepted) {
                return Err(format!(
                    "{}: {} but the target {}",
                    path.display(),
                    if accepted { "named bad-" } else { "named ok-" },
                    if accepted {
                        "accepted it"
                    } else {
                        "refused it"
                    },
                ));
            }
            *count += 1;
        }
    }
    Ok(replayed)
}
