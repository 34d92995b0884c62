//! The configuration document, parsed once into a JSON tree that the typo check
//! ([`super::unknown_fields`]), the OAS reader ([`super::oas`]) and the typed shape
//! ([`super::shape_reader`]) all read.
//!
//! serde_json's own `Value` keeps the last of two equal keys. Here a repeated key is refused,
//! with the path of its object: `"use_mutual_tls_auth": true, "use_mutual_tls_auth": false`
//! must not be read either way (serde's derive refused repeated known fields when the shape
//! was read straight from the text; this keeps that, for every object).

use super::error::{ConfigError, ConfigErrorKind};
use serde::de::{DeserializeSeed, Deserializer, Error, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};
use std::cell::RefCell;
use std::fmt;

/// Parses `json`. A syntax error or a repeated key is refused at the path of the innermost
/// value it is in (the object, for a repeated key), with serde_json's line and column.
pub(super) fn parse(json: &[u8]) -> Result<Value, ConfigError> {
    let failed_at = RefCell::new(None);
    let mut deserializer = serde_json::Deserializer::from_slice(json);
    let seed = Seed {
        path: &Path::Root,
        failed_at: &failed_at,
    };
    let parsed = seed
        .deserialize(&mut deserializer)
        .and_then(|value| deserializer.end().map(|()| value));
    parsed.map_err(|e| {
        let path = failed_at.take().unwrap_or_else(|| "$".to_owned());
        ConfigError::new(path, ConfigErrorKind::Malformed(e.to_string()))
    })
}

/// A JSON path while reading: `apis[0].proxy.listen_path`, built only when an error needs it.
#[derive(Clone, Copy)]
pub(super) enum Path<'a> {
    Root,
    Key(&'a Path<'a>, &'a str),
    Index(&'a Path<'a>, usize),
}

impl fmt::Display for Path<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Path::Root => f.write_str("$"),
            Path::Key(Path::Root, key) => f.write_str(key),
            Path::Key(parent, key) => write!(f, "{parent}.{key}"),
            Path::Index(parent, index) => write!(f, "{parent}[{index}]"),
        }
    }
}

/// Reads one value at `path`. The innermost value an error passes through writes its path to
/// `failed_at` (the outer ones find it written).
#[derive(Clone, Copy)]
struct Seed<'p> {
    path: &'p Path<'p>,
    failed_at: &'p RefCell<Option<String>>,
}

impl<'de> DeserializeSeed<'de> for Seed<'_> {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self).inspect_err(|_| {
            let mut failed_at = self.failed_at.borrow_mut();
            if failed_at.is_none() {
                *failed_at = Some(self.path.to_string());
            }
        })
    }
}

impl<'de> Visitor<'de> for Seed<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        // As serde_json's own Value: a float JSON can carry is always finite.
        Ok(Number::from_f64(v).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        loop {
            let path = Path::Index(self.path, items.len());
            let seed = Seed {
                path: &path,
                ..self
            };
            match seq.next_element_seed(seed)? {
                Some(item) => items.push(item),
                None => return Ok(Value::Array(items)),
            }
        }
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut object = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if object.contains_key(&key) {
                // serde's own wording for a repeated field.
                return Err(A::Error::custom(format_args!("duplicate field `{key}`")));
            }
            let path = Path::Key(self.path, &key);
            let value = map.next_value_seed(Seed {
                path: &path,
                ..self
            })?;
            object.insert(key, value);
        }
        Ok(Value::Object(object))
    }
}
