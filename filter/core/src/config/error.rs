//! A refused configuration: the JSON path of the first bad field and a typed reason. The
//! text users see (`apis[2].client_certificates[0]: not a PEM, ID or fingerprint`) is made
//! only by `Display`.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// JSON path of the field, e.g. `apis[0].proxy.listen_path`; `$` for the whole document.
    pub path: String,
    pub kind: ConfigErrorKind,
}

/// Why a field was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigErrorKind {
    /// Not JSON, or a field of the wrong type (serde's words).
    Malformed(String),
    /// A required field is missing or empty; says what it is for.
    Required(&'static str),
    /// A second API with the same `api_id`.
    DuplicateApiId(String),
    /// A number outside its range.
    OutOfRange { min: u64, max: u64 },
    /// A number below its minimum.
    BelowMinimum(u64),
    /// Any other rule, worded by the rule that refused it.
    Invalid(String),
}

impl ConfigError {
    pub fn new(path: impl Into<String>, kind: ConfigErrorKind) -> Self {
        ConfigError {
            path: path.into(),
            kind,
        }
    }

    /// A field refused by a rule that words its own reason.
    pub fn invalid(path: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::new(path, ConfigErrorKind::Invalid(reason.into()))
    }

    /// The reason alone, as users read it.
    pub fn reason(&self) -> String {
        self.kind.to_string()
    }
}

impl fmt::Display for ConfigErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigErrorKind::Malformed(text) | ConfigErrorKind::Invalid(text) => f.write_str(text),
            ConfigErrorKind::Required(what) => write!(f, "required{what}"),
            ConfigErrorKind::DuplicateApiId(id) => write!(f, "duplicate api_id {id:?}"),
            ConfigErrorKind::OutOfRange { min, max } => {
                write!(f, "must be between {min} and {max}")
            }
            ConfigErrorKind::BelowMinimum(min) => write!(f, "must be at least {min}"),
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.kind)
    }
}

impl std::error::Error for ConfigError {}
