//! Tyk's route templates: `{name}` and `{name:regex}` in an API's `domain` and
//! `listen_path`, in the syntax of gorilla/mux, which Tyk routes with. One parser for both.
//!
//! A variable without a pattern matches one label of a host (`[^.]+`) or one segment of a
//! path (`[^/]+`), as in mux. Braces may nest inside a pattern (`{id:[0-9]{3}}`).

use regex_lite::Regex;
use std::fmt;

/// Why a template was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TemplateError {
    UnbalancedBraces,
    /// `{}` or `{:x}` or `{x:}`.
    EmptyVariable,
    /// The regex of a variable does not compile.
    BadPattern(String),
}

impl fmt::Display for TemplateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TemplateError::UnbalancedBraces => {
                write!(f, "unbalanced braces in a {{name}} template")
            }
            TemplateError::EmptyVariable => {
                write!(
                    f,
                    "a template variable needs a name (and, after `:`, a pattern)"
                )
            }
            TemplateError::BadPattern(reason) => write!(f, "template pattern: {reason}"),
        }
    }
}

/// One piece of a template.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part<'a> {
    Literal(&'a str),
    /// `{name}` (`pattern` None) or `{name:pattern}`.
    Variable {
        pattern: Option<&'a str>,
    },
}

/// Does this text use template syntax at all?
pub fn is_template(text: &str) -> bool {
    text.contains(['{', '}'])
}

/// Splits a template into literals and variables (mux's brace matching, nesting counted).
pub fn parse(template: &str) -> Result<Vec<Part<'_>>, TemplateError> {
    let mut parts = Vec::new();
    let mut level = 0usize;
    let mut literal_start = 0;
    let mut variable_start = 0;
    for (i, c) in template.char_indices() {
        match c {
            '{' => {
                if level == 0 {
                    if i > literal_start {
                        parts.push(Part::Literal(template.get(literal_start..i).unwrap_or("")));
                    }
                    variable_start = i + 1;
                }
                level += 1;
            }
            '}' => {
                level = level
                    .checked_sub(1)
                    .ok_or(TemplateError::UnbalancedBraces)?;
                if level == 0 {
                    let inner = template.get(variable_start..i).unwrap_or("");
                    parts.push(variable(inner)?);
                    literal_start = i + 1;
                }
            }
            _ => {}
        }
    }
    if level != 0 {
        return Err(TemplateError::UnbalancedBraces);
    }
    if literal_start < template.len() {
        parts.push(Part::Literal(template.get(literal_start..).unwrap_or("")));
    }
    Ok(parts)
}

fn variable(inner: &str) -> Result<Part<'_>, TemplateError> {
    let (name, pattern) = match inner.split_once(':') {
        Some((name, pattern)) => (name, Some(pattern)),
        None => (inner, None),
    };
    if name.trim().is_empty() || pattern.is_some_and(str::is_empty) {
        return Err(TemplateError::EmptyVariable);
    }
    Ok(Part::Variable { pattern })
}

/// Compiles parsed parts into one anchored regex: `^…` and, when `whole`, `…$`. Literals
/// match themselves; a variable matches its pattern, or `default_pattern`.
pub fn compile(
    parts: &[Part<'_>],
    default_pattern: &str,
    whole: bool,
    case_insensitive: bool,
) -> Result<Regex, TemplateError> {
    let mut source = String::from(if case_insensitive { "(?i)^" } else { "^" });
    for part in parts {
        match part {
            Part::Literal(text) => source.push_str(&regex_lite::escape(text)),
            Part::Variable { pattern } => {
                source.push_str("(?:");
                source.push_str(pattern.unwrap_or(default_pattern));
                source.push(')');
            }
        }
    }
    if whole {
        source.push('$');
    }
    Regex::new(&source).map_err(|e| TemplateError::BadPattern(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_split_into_literals_and_variables() {
        assert_eq!(
            parse("{sub:.*}.example.com").unwrap(),
            vec![
                Part::Variable {
                    pattern: Some(".*")
                },
                Part::Literal(".example.com")
            ]
        );
        assert_eq!(
            parse("/api/{version}/x").unwrap(),
            vec![
                Part::Literal("/api/"),
                Part::Variable { pattern: None },
                Part::Literal("/x")
            ]
        );
        assert_eq!(
            parse("/{id:[0-9]{3}}").unwrap(),
            vec![
                Part::Literal("/"),
                Part::Variable {
                    pattern: Some("[0-9]{3}")
                }
            ]
        );
    }

    #[test]
    fn malformed_templates_are_refused() {
        for (template, want) in [
            ("{a", TemplateError::UnbalancedBraces),
            ("a}", TemplateError::UnbalancedBraces),
            ("{a:{b}", TemplateError::UnbalancedBraces),
            ("{}", TemplateError::EmptyVariable),
            ("{:x}", TemplateError::EmptyVariable),
            ("{x:}", TemplateError::EmptyVariable),
        ] {
            assert_eq!(parse(template), Err(want), "{template}");
        }
        let parts = parse("{x:(}").unwrap();
        assert!(matches!(
            compile(&parts, "[^.]+", true, false),
            Err(TemplateError::BadPattern(_))
        ));
    }

    #[test]
    fn literals_are_not_regex() {
        let regex = compile(&parse("a.b{x}").unwrap(), "[^.]+", true, false).unwrap();
        assert!(regex.is_match("a.bc"));
        assert!(!regex.is_match("axbc"));
    }
}
