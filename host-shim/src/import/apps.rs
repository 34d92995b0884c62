//! The API definitions of a Tyk `app_path`, found as Tyk finds them
//! (`gateway/api_definition.go`, `FromDir`): every `*.json` file directly in the directory,
//! in name order.
//!
//! - A Classic definition is one file.
//! - An OAS API is two files, as Tyk's gateway API writes them: `<name>.json`, the Classic
//!   definition with `"is_oas": true` (what Tyk's middleware reads), and `<name>-oas.json`,
//!   the OAS document (`-mcp.json` for MCP APIs). Tyk skips the companion when listing and
//!   loads it with its Classic file. `import` keeps the OAS document as the gate's entry
//!   (the gate reads OAS, SPEC §9) and checks that the two agree ([`super::companion`]).
//! - An OAS document with no Classic file beside it (an export, the form Tyk's Dashboard and
//!   `tyk-sync` hand out) is imported as the OAS API it describes, with a note: Tyk itself
//!   would not load it from `app_path`.
//! - A Classic file with `"is_oas": true` and no OAS document is read as Classic, as Tyk
//!   then enforces its Classic fields.

use super::ImportError;
use super::report::{Kind, Report};
use mtls_gate_core::config::oas;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;

/// Tyk's names for an OAS API's document beside its Classic file `<name>.json`.
const COMPANION_SUFFIXES: [&str; 2] = ["-oas.json", "-mcp.json"];

/// One API definition, as it goes into the gate.
#[derive(Debug, Clone)]
pub struct App {
    /// The file the entry is, under the user's `--apps` (the OAS document for an OAS API).
    pub file: String,
    pub definition: Value,
    /// For an OAS API stored as Tyk stores it: its Classic file and definition.
    pub classic_companion: Option<(String, Value)>,
}

impl App {
    pub fn is_oas(&self) -> bool {
        oas::is_oas(&self.definition)
    }
}

/// Reads every definition in `dir` (named `display` in messages).
pub fn read(dir: &Path, display: &Path, report: &mut Report) -> Result<Vec<App>, ImportError> {
    let file_name = |name: &str| display.join(name).display().to_string();
    let unreadable = |e: std::io::Error| ImportError::Read {
        file: display.display().to_string(),
        reason: e.to_string(),
    };
    let mut files: BTreeMap<String, Value> = BTreeMap::new();
    for entry in std::fs::read_dir(dir).map_err(unreadable)? {
        let entry = entry.map_err(unreadable)?;
        let Ok(name) = entry.file_name().into_string() else {
            continue;
        };
        if !name.ends_with(".json") || !entry.path().is_file() {
            continue;
        }
        let text = std::fs::read(entry.path()).map_err(|e| ImportError::Read {
            file: file_name(&name),
            reason: e.to_string(),
        })?;
        // Tyk logs and skips a file it cannot read; a gate missing an API silently would be
        // worse than no gate.
        let definition: Value =
            serde_json::from_slice(&text).map_err(|e| ImportError::Refused {
                location: format!("{}: $", file_name(&name)),
                reason: format!("not a JSON API definition: {e}"),
            })?;
        if !definition.is_object() {
            return Err(ImportError::Refused {
                location: format!("{}: $", file_name(&name)),
                reason: "not a JSON object: an API definition is one".to_owned(),
            });
        }
        files.insert(name, definition);
    }

    let mut apps = Vec::new();
    for (name, definition) in &files {
        if oas::is_oas(definition) {
            if let Some(classic) = classic_file_of(name).filter(|c| files.contains_key(c)) {
                if !is_oas_classic(files.get(&classic)) {
                    // Tyk skips a companion-named OAS document whenever `<name>.json` exists.
                    report.push(
                        Kind::NotCarried,
                        file_name(name),
                        format!(
                            "Tyk skips it: {} is a Classic API (\"is_oas\" is not true), and Tyk loads only that one",
                            file_name(&classic)
                        ),
                    );
                }
                continue;
            }
            report.push(
                Kind::Note,
                file_name(name),
                "an OAS document without its Classic file: imported as the OAS API it describes \
                 (Tyk's app_path holds an OAS API as <name>.json with \"is_oas\": true beside \
                 <name>-oas.json)",
            );
            apps.push(App {
                file: file_name(name),
                definition: definition.clone(),
                classic_companion: None,
            });
            continue;
        }
        if !is_oas_classic(Some(definition)) {
            apps.push(App {
                file: file_name(name),
                definition: definition.clone(),
                classic_companion: None,
            });
            continue;
        }
        let stem = name.strip_suffix(".json").unwrap_or(name);
        let document = COMPANION_SUFFIXES
            .iter()
            .map(|suffix| format!("{stem}{suffix}"))
            .find(|companion| files.get(companion).is_some_and(oas::is_oas));
        match document {
            Some(document) => apps.push(App {
                file: file_name(&document),
                definition: files.get(&document).cloned().unwrap_or_default(),
                classic_companion: Some((file_name(name), definition.clone())),
            }),
            None => {
                report.push(
                    Kind::Note,
                    file_name(name),
                    format!(
                        "\"is_oas\": true, but no {stem}-oas.json beside it: imported as Classic (Tyk then enforces its Classic fields)"
                    ),
                );
                apps.push(App {
                    file: file_name(name),
                    definition: definition.clone(),
                    classic_companion: None,
                });
            }
        }
    }
    Ok(apps)
}

/// `foo-oas.json` → `foo.json`.
fn classic_file_of(name: &str) -> Option<String> {
    COMPANION_SUFFIXES
        .iter()
        .find_map(|suffix| name.strip_suffix(suffix))
        .map(|stem| format!("{stem}.json"))
}

fn is_oas_classic(definition: Option<&Value>) -> bool {
    definition.and_then(|d| d.get("is_oas")) == Some(&Value::Bool(true))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn write(dir: &Path, name: &str, value: &Value) {
        std::fs::write(dir.join(name), value.to_string()).unwrap();
    }

    #[test]
    fn classic_and_oas_files_are_told_apart_as_tyk_does() {
        let dir = tempfile::tempdir().unwrap();
        let oas_doc = json!({"openapi": "3.0.3", "x-tyk-api-gateway": {}});
        write(dir.path(), "a.json", &json!({"api_id": "a"}));
        write(
            dir.path(),
            "b.json",
            &json!({"api_id": "b", "is_oas": true}),
        );
        write(dir.path(), "b-oas.json", &oas_doc);
        write(dir.path(), "c.oas.json", &oas_doc);
        write(
            dir.path(),
            "d.json",
            &json!({"api_id": "d", "is_oas": true}),
        );
        write(dir.path(), "e.json", &json!({"api_id": "e"}));
        write(dir.path(), "e-oas.json", &oas_doc);
        std::fs::write(dir.path().join("notes.txt"), "not an API").unwrap();
        std::fs::create_dir(dir.path().join("sub.json")).unwrap();
        let mut report = Report::default();
        let apps = read(dir.path(), Path::new("apps"), &mut report).unwrap();
        let found: Vec<(&str, bool, Option<&str>)> = apps
            .iter()
            .map(|a| {
                let companion = a.classic_companion.as_ref().map(|(f, _)| f.as_str());
                (a.file.as_str(), a.is_oas(), companion)
            })
            .collect();
        assert_eq!(
            found,
            [
                ("apps/a.json", false, None),
                ("apps/b-oas.json", true, Some("apps/b.json")),
                ("apps/c.oas.json", true, None),
                ("apps/d.json", false, None),
                ("apps/e.json", false, None),
            ]
        );
        let lines = report.lines();
        assert!(
            lines.iter().any(|l| l.starts_with("apps/c.oas.json: an OAS document without its Classic file")),
            "{lines:?}"
        );
        assert!(
            lines
                .iter()
                .any(|l| l.starts_with("apps/d.json: \"is_oas\": true, but no d-oas.json")),
            "{lines:?}"
        );
        assert!(
            lines
                .iter()
                .any(|l| l.starts_with("apps/e-oas.json: not carried (Tyk skips it")),
            "{lines:?}"
        );
    }

    #[test]
    fn a_file_that_is_not_a_definition_is_refused_by_name() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("broken.json"), "{\"api_id\": ").unwrap();
        let err = read(dir.path(), Path::new("apps"), &mut Report::default()).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("apps/broken.json: $: not a JSON API definition"),
            "{err}"
        );
        std::fs::write(dir.path().join("broken.json"), "[1]").unwrap();
        let err = read(dir.path(), Path::new("apps"), &mut Report::default()).unwrap_err();
        assert!(err.to_string().contains("not a JSON object"), "{err}");
    }
}
