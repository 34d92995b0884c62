//! What `import` tells its user (on stderr): every setting it carried, inlined, kept without
//! applying it, or left out, each named by file and JSON path, and the warnings `--strict`
//! refuses. Nothing is dropped silently (SPEC §9).

use std::fmt;

/// What became of one setting, or what the user should know about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    /// What was read, first.
    Summary,
    /// In the gate under Tyk's name, and the gate (or `render`) applies it.
    Carried,
    /// A file reference replaced by the file's PEM.
    Inlined,
    /// In the gate under Tyk's name, but nothing applies it yet.
    Kept,
    /// Not in the gate.
    NotCarried,
    /// Worth knowing; nothing is wrong.
    Note,
    /// Probably wrong (a typo, two files that disagree, a gate `render` will refuse):
    /// `--strict` refuses the import.
    Warning,
}

/// One line of the report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub kind: Kind,
    /// `FILE: JSON.path` (or `FILE` alone).
    pub location: String,
    pub message: String,
}

impl fmt::Display for Entry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Entry {
            location, message, ..
        } = self;
        match self.kind {
            Kind::Carried => write!(f, "{location}: carried{}", detail(message)),
            Kind::Inlined => write!(f, "{location}: inlined {message}"),
            Kind::Kept => write!(
                f,
                "{location}: kept in the gate, not applied yet ({message})"
            ),
            Kind::NotCarried => write!(f, "{location}: not carried ({message})"),
            Kind::Summary | Kind::Note => write!(f, "{location}: {message}"),
            Kind::Warning => write!(f, "warning: {location}: {message}"),
        }
    }
}

fn detail(message: &str) -> String {
    match message.is_empty() {
        true => String::new(),
        false => format!(" ({message})"),
    }
}

/// The whole report, in the order things were found; [`Report::lines`] sorts by kind.
#[derive(Debug, Clone, Default)]
pub struct Report {
    entries: Vec<Entry>,
}

impl Report {
    pub fn push(&mut self, kind: Kind, location: impl Into<String>, message: impl Into<String>) {
        self.entries.push(Entry {
            kind,
            location: location.into(),
            message: message.into(),
        });
    }

    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    pub fn warnings(&self) -> impl Iterator<Item = &Entry> {
        self.entries.iter().filter(|e| e.kind == Kind::Warning)
    }

    /// The lines to print: grouped by kind (warnings last, where they are seen), each group
    /// in the order found.
    pub fn lines(&self) -> Vec<String> {
        let mut sorted: Vec<&Entry> = self.entries.iter().collect();
        sorted.sort_by_key(|e| e.kind);
        sorted.iter().map(ToString::to_string).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_group_by_kind_with_warnings_last() {
        let mut report = Report::default();
        report.push(Kind::Warning, "apps/a.json: x", "typo");
        report.push(
            Kind::NotCarried,
            "tyk.conf: http_server_options.min_version",
            "why",
        );
        report.push(Kind::Carried, "tyk.conf: security.certificates.apis", "");
        report.push(
            Kind::Kept,
            "tyk.conf: security.pinned_public_keys",
            "not yet",
        );
        assert_eq!(
            report.lines(),
            [
                "tyk.conf: security.certificates.apis: carried",
                "tyk.conf: security.pinned_public_keys: kept in the gate, not applied yet (not yet)",
                "tyk.conf: http_server_options.min_version: not carried (why)",
                "warning: apps/a.json: x: typo",
            ]
        );
        assert_eq!(report.warnings().count(), 1);
    }
}
