//! Reads the typed shape ([`super::shape`]) out of the parsed document, naming the JSON path of
//! the first field serde refuses: `apis[0].use_mutual_tls_auth: invalid type: string "yes",
//! expected a boolean`.
//!
//! A small serde `Deserializer` over `&Value` that knows where it is. (serde_path_to_error did
//! this by wrapping serde_json's deserializer and every visitor, which cost the filter's .wasm
//! about 50 KB.) An error takes the path of the deepest value that saw it, as that crate did.

use super::document::Path;
use super::error::{ConfigError, ConfigErrorKind};
use serde::de::value::BorrowedStrDeserializer;
use serde::de::{
    self, Deserialize, DeserializeSeed, Deserializer, Expected, MapAccess, SeqAccess, Unexpected,
    Visitor,
};
use serde_json::{Map, Value};
use std::fmt;

/// Reads `T` from `document`.
pub(super) fn read<'de, T: Deserialize<'de>>(document: &'de Value) -> Result<T, ConfigError> {
    let at = At {
        value: document,
        path: &Path::Root,
    };
    T::deserialize(at).map_err(|e| {
        ConfigError::new(
            e.path.unwrap_or_else(|| "$".to_owned()),
            ConfigErrorKind::Malformed(e.message),
        )
    })
}

/// serde's words, and where they apply once known.
#[derive(Debug)]
pub(super) struct Error {
    path: Option<String>,
    message: String,
}

impl de::Error for Error {
    fn custom<T: fmt::Display>(message: T) -> Self {
        Error {
            path: None,
            message: message.to_string(),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

/// A value of the document and its path.
struct At<'de, 'p> {
    value: &'de Value,
    path: &'p Path<'p>,
}

impl<'de> At<'de, '_> {
    /// The deepest value an error passes through names it.
    fn located<T>(&self, read: Result<T, Error>) -> Result<T, Error> {
        read.map_err(|mut error| {
            if error.path.is_none() {
                error.path = Some(self.path.to_string());
            }
            error
        })
    }

    /// serde's `invalid type: <found>, expected <what the visitor reads>`. Not generic, and
    /// cold: every field type shares it.
    #[cold]
    #[inline(never)]
    fn wrong_type(&self, expected: &dyn Expected) -> Error {
        let found = match self.value {
            Value::Null => Unexpected::Unit,
            Value::Bool(b) => Unexpected::Bool(*b),
            Value::Number(n) => match (n.as_u64(), n.as_i64(), n.as_f64()) {
                (Some(u), _, _) => Unexpected::Unsigned(u),
                (_, Some(i), _) => Unexpected::Signed(i),
                (_, _, Some(f)) => Unexpected::Float(f),
                _ => Unexpected::Other("number"),
            },
            Value::String(s) => Unexpected::Str(s),
            Value::Array(_) => Unexpected::Seq,
            Value::Object(_) => Unexpected::Map,
        };
        let mut error: Error = de::Error::invalid_type(found, expected);
        error.path = Some(self.path.to_string());
        error
    }

    fn fields(&self, fields: &'de Map<String, Value>) -> Fields<'de, '_> {
        Fields {
            iter: fields.iter(),
            next: None,
            path: self.path,
        }
    }
}

/// Number types read as [`At::deserialize_f64`] reads them.
macro_rules! numbers {
    ($($method:ident)*) => {$(
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
            self.deserialize_f64(visitor)
        }
    )*};
}

/// Each method reads only the JSON type its Rust type has (as serde_json's `Value` does for
/// most), so a field type costs one branch and the shared [`At::wrong_type`].
impl<'de> Deserializer<'de> for At<'de, '_> {
    type Error = Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        let read = match self.value {
            Value::Null => visitor.visit_unit(),
            Value::Bool(b) => visitor.visit_bool(*b),
            Value::Number(_) => return self.deserialize_f64(visitor),
            Value::String(s) => visitor.visit_borrowed_str(s),
            Value::Array(items) => visitor.visit_seq(self.items(items)),
            Value::Object(fields) => visitor.visit_map(self.fields(fields)),
        };
        self.located(read)
    }

    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.value {
            Value::Bool(b) => self.located(visitor.visit_bool(*b)),
            _ => Err(self.wrong_type(&visitor)),
        }
    }

    /// Every number type: the visitor checks the range (`invalid value: integer `70000`,
    /// expected u16`).
    fn deserialize_f64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        let Value::Number(n) = self.value else {
            return Err(self.wrong_type(&visitor));
        };
        let read = match (n.as_u64(), n.as_i64(), n.as_f64()) {
            (Some(u), _, _) => visitor.visit_u64(u),
            (_, Some(i), _) => visitor.visit_i64(i),
            (_, _, Some(f)) => visitor.visit_f64(f),
            _ => Err(de::Error::custom("number out of range")),
        };
        self.located(read)
    }

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.value {
            Value::String(s) => self.located(visitor.visit_borrowed_str(s)),
            _ => Err(self.wrong_type(&visitor)),
        }
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_str(visitor)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.value {
            Value::Array(items) => self.located(visitor.visit_seq(self.items(items))),
            _ => Err(self.wrong_type(&visitor)),
        }
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.value {
            Value::Object(fields) => self.located(visitor.visit_map(self.fields(fields))),
            _ => Err(self.wrong_type(&visitor)),
        }
    }

    /// A struct is read from an object only (serde_json would also take an array, fields by
    /// position, which no configuration means).
    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.deserialize_map(visitor)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.value {
            Value::Null => self.located(visitor.visit_none()),
            _ => visitor.visit_some(self),
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Error> {
        visitor.visit_newtype_struct(self)
    }

    /// A field the shape does not have: nothing to read in it.
    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_unit()
    }

    numbers! {
        deserialize_i8 deserialize_i16 deserialize_i32 deserialize_i64 deserialize_u8
        deserialize_u16 deserialize_u32 deserialize_u64 deserialize_f32
    }

    serde::forward_to_deserialize_any! {
        i128 u128 char bytes byte_buf unit unit_struct tuple tuple_struct enum identifier
    }
}

impl<'de, 'p> At<'de, 'p> {
    fn items(&self, items: &'de [Value]) -> Items<'de, 'p> {
        Items {
            items: items.iter().enumerate(),
            path: self.path,
        }
    }
}

struct Items<'de, 'p> {
    items: std::iter::Enumerate<std::slice::Iter<'de, Value>>,
    path: &'p Path<'p>,
}

impl<'de> SeqAccess<'de> for Items<'de, '_> {
    type Error = Error;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, Error> {
        let Some((index, value)) = self.items.next() else {
            return Ok(None);
        };
        let path = Path::Index(self.path, index);
        seed.deserialize(At { value, path: &path }).map(Some)
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.items.len())
    }
}

struct Fields<'de, 'p> {
    iter: serde_json::map::Iter<'de>,
    next: Option<(&'de String, &'de Value)>,
    path: &'p Path<'p>,
}

impl<'de> MapAccess<'de> for Fields<'de, '_> {
    type Error = Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Error> {
        let Some((key, value)) = self.iter.next() else {
            return Ok(None);
        };
        self.next = Some((key, value));
        seed.deserialize(BorrowedStrDeserializer::new(key))
            .map(Some)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Error> {
        let Some((key, value)) = self.next.take() else {
            return Err(de::Error::custom("a map value without its key"));
        };
        let path = Path::Key(self.path, key.as_str());
        seed.deserialize(At { value, path: &path })
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.iter.len())
    }
}
