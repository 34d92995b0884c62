//! Tyk OAS API definitions in `apis[]` (SPEC §9).
//!
//! An entry with Tyk's `x-tyk-api-gateway` extension is an OAS API definition. It is read
//! into its Classic twin, the fields Tyk's own `ExtractTo` (`apidef/oas/*.go`) makes of it,
//! and `compile` validates the twin like any Classic definition: every rule lives once, and an
//! OAS field means exactly what its Classic counterpart means. Each Classic field knows the OAS
//! path it came from ([`Origins`]), so a refusal names what the user wrote:
//! `apis[1].x-tyk-api-gateway.server.clientCertificates.allowlist[0]: ...`.
//!
//! Read here: the identity, listen path, upstream URL and every mTLS field, one row of
//! [`FIELDS`] each (the mapping table of `fixtures/tyk/oas/README.md`). The rest of an OAS
//! definition is Tyk's and is ignored, as a Classic definition's other fields are; typos in
//! it are still reported ([`known_fields`]).
//!
//! An object left out leaves the Classic defaults, which mean what Tyk's zero values mean (no
//! `customDomain`: any host; no `mutualTLS`: no API upstream map). A field Tyk's schema
//! requires is required here too where its zero value would change what the gate enforces
//! (`customDomain` without `enabled` would ignore the domain; no `info.state.active` would
//! switch the API off), as Tyk refuses such a definition anyway.

use super::compile::map_entry_path;
use super::error::{ConfigError, ConfigErrorKind};
use serde_json::{Map, Value};

mod known_fields;
mod origins;
mod schema_table;
#[cfg(test)]
mod tests;

pub(super) use known_fields::find_unknown;
pub use origins::Origins;

/// Tyk's vendor extension: what makes an `apis[]` entry an OAS definition.
pub const EXTENSION: &str = "x-tyk-api-gateway";

/// How an OAS field becomes its Classic field.
#[derive(Clone, Copy)]
enum Read {
    Text,
    Flag,
    /// A flag the Classic field negates (`enabled` → `*_disabled`, `use_keyless`).
    NotFlag,
    /// A list of strings.
    Texts,
    /// `"1.0"` … `"1.3"` → Tyk's numbers (769 … 772).
    TlsVersion,
    /// `domainToCertificateMapping` → the `upstream_certificates` map.
    CertificateMap,
    /// `domainToPublicKeysMapping` → `pinned_public_keys`, each domain's keys comma-joined.
    PinMap,
    /// `certificateAuth.enabled`, or the legacy `securitySchemes.<name>.enableClientCertificate`,
    /// with the token header.
    CertificateAuth,
}

/// When an OAS field must be there.
#[derive(Clone, Copy)]
enum Need {
    Optional,
    Required,
    /// Only read when this object (under `x-tyk-api-gateway`) is there, and then required.
    With(&'static str),
}

/// Classic field ← OAS field (under `x-tyk-api-gateway`): Tyk's `ExtractTo`, one row each.
#[rustfmt::skip]
const FIELDS: &[(&str, &str, Read, Need)] = &[
    ("api_id", "info.id", Read::Text, Need::Optional),
    ("org_id", "info.orgId", Read::Text, Need::Optional),
    ("name", "info.name", Read::Text, Need::Required),
    ("active", "info.state.active", Read::Flag, Need::Required),
    ("proxy.listen_path", "server.listenPath.value", Read::Text, Need::Required),
    ("proxy.strip_listen_path", "server.listenPath.strip", Read::Flag, Need::Optional),
    ("proxy.target_url", "upstream.url", Read::Text, Need::Required),
    ("use_mutual_tls_auth", "server.clientCertificates.enabled", Read::Flag, Need::Optional),
    ("client_certificates", "server.clientCertificates.allowlist", Read::Texts, Need::Optional),
    ("domain_disabled", "server.customDomain.enabled", Read::NotFlag, Need::With(DOMAIN)),
    ("domain", "server.customDomain.name", Read::Text, Need::With(DOMAIN)),
    ("certificates", "server.customDomain.certificates", Read::Texts, Need::Optional),
    ("use_keyless", "server.authentication.enabled", Read::NotFlag, Need::Optional),
    ("strip_auth_data", "server.authentication.stripAuthorizationData", Read::Flag, Need::Optional),
    ("auth_configs.authToken.use_certificate", "server.authentication.certificateAuth.enabled", Read::CertificateAuth, Need::Optional),
    ("upstream_certificates_disabled", "upstream.mutualTLS.enabled", Read::NotFlag, Need::With(MTLS)),
    ("upstream_certificates", "upstream.mutualTLS.domainToCertificateMapping", Read::CertificateMap, Need::With(MTLS)),
    ("certificate_pinning_disabled", "upstream.certificatePinning.enabled", Read::NotFlag, Need::With(PINNING)),
    ("pinned_public_keys", "upstream.certificatePinning.domainToPublicKeysMapping", Read::PinMap, Need::With(PINNING)),
    ("proxy.transport.ssl_insecure_skip_verify", "upstream.tlsTransport.insecureSkipVerify", Read::Flag, Need::Optional),
    ("proxy.transport.ssl_force_common_name_check", "upstream.tlsTransport.forceCommonNameCheck", Read::Flag, Need::Optional),
    ("proxy.transport.ssl_ciphers", "upstream.tlsTransport.ciphers", Read::Texts, Need::Optional),
    ("proxy.transport.ssl_min_version", "upstream.tlsTransport.minVersion", Read::TlsVersion, Need::Optional),
    ("proxy.transport.ssl_max_version", "upstream.tlsTransport.maxVersion", Read::TlsVersion, Need::Optional),
];

const DOMAIN: &str = "server.customDomain";
const MTLS: &str = "upstream.mutualTLS";
const PINNING: &str = "upstream.certificatePinning";
const AUTHENTICATION: [&str; 3] = [EXTENSION, "server", "authentication"];

/// Is this `apis[]` entry an OAS API definition rather than a Classic one? An OpenAPI
/// document without Tyk's extension counts, so that it is refused for what it lacks.
pub fn is_oas(entry: &Value) -> bool {
    entry.as_object().is_some_and(has_oas_fields)
}

/// [`is_oas`], for an entry already known to be an object.
pub(super) fn has_oas_fields(entry: &Map<String, Value>) -> bool {
    entry.contains_key(EXTENSION) || entry.contains_key("openapi")
}

/// An OAS definition read as Classic: the JSON Tyk's `ExtractTo` makes of the fields the gate
/// reads (with `proxy.strip_listen_path`, `use_standard_auth` and `auth_configs.authToken.name`,
/// which it ignores, so that a report shows the twin whole), and where each came from.
#[derive(Debug, Clone, PartialEq)]
pub struct ClassicTwin {
    pub api: Value,
    pub origins: Origins,
}

/// Reads one OAS `apis[]` entry into its Classic twin. `at` is the entry's path in the gate
/// (`apis[1]`): refusals (a wrong type, a field Tyk's schema requires) start with it; with
/// `""` they start at the definition's own top (`x-tyk-api-gateway.info.name`).
pub fn to_classic(entry: &Value, at: &str) -> Result<ClassicTwin, ConfigError> {
    let entry = Entry { root: entry, at };
    match entry.find(&[EXTENSION])? {
        Some(Value::Object(_)) => {}
        Some(other) => return Err(entry.wrong_type(EXTENSION.to_owned(), other, "an object")),
        None => {
            return Err(entry.refuse(
                EXTENSION.to_owned(),
                ConfigErrorKind::Required(
                    ": an OpenAPI definition needs Tyk's x-tyk-api-gateway extension",
                ),
            ));
        }
    }
    let mut twin = ClassicTwin {
        api: Value::Object(Map::new()),
        origins: Origins::default(),
    };
    for &(classic, oas, read, need) in FIELDS {
        if let Need::With(object) = need
            && entry.find(&tyk_keys(object))?.is_none()
        {
            continue;
        }
        let keys = tyk_keys(oas);
        let value = entry.find(&keys)?;
        if value.is_none() && !matches!(need, Need::Optional) {
            return Err(entry.refuse(
                keys.join("."),
                ConfigErrorKind::Required(" (Tyk's schema requires it)"),
            ));
        }
        let read = match read {
            Read::Text => entry.text(&keys, value)?.map(Value::from),
            Read::Flag => entry.flag(&keys, value)?.map(Value::from),
            // Tyk's zero value: no `authentication.enabled` is keyless.
            Read::NotFlag => Some(Value::from(!entry.flag(&keys, value)?.unwrap_or(false))),
            Read::Texts => entry
                .texts(&keys.join("."), value)?
                .map(|texts| texts.into_iter().map(Value::from).collect()),
            Read::TlsVersion => entry.tls_version(&keys, value)?.map(Value::from),
            Read::CertificateMap => Some(entry.certificate_map(&keys, value, &mut twin.origins)?),
            Read::PinMap => Some(entry.pin_map(&keys, value, &mut twin.origins)?),
            Read::CertificateAuth => Some(entry.certificate_auth(&mut twin)?),
        };
        if let Some(value) = read {
            put(&mut twin.api, classic, value);
        }
    }
    Ok(twin)
}

/// The keys of a path under `x-tyk-api-gateway`.
fn tyk_keys(path: &str) -> Vec<&str> {
    std::iter::once(EXTENSION).chain(path.split('.')).collect()
}

/// Sets the Classic `field` (dotted for nesting: `proxy.listen_path`).
#[inline(never)]
fn put(api: &mut Value, field: &str, value: Value) {
    let (parent, name) = match field.rsplit_once('.') {
        Some((parent, name)) => (Some(parent), name),
        None => (None, field),
    };
    let mut object = api;
    for key in parent.into_iter().flat_map(|p| p.split('.')) {
        let Value::Object(fields) = object else {
            return;
        };
        object = fields
            .entry(key.to_owned())
            .or_insert_with(|| Value::Object(Map::new()));
    }
    // Only this module writes the twin, and no field of it is both a value and a parent.
    if let Value::Object(fields) = object {
        fields.insert(name.to_owned(), value);
    }
}

/// The gate's OAS entries, each replaced in the document by its Classic twin.
#[derive(Default)]
pub(super) struct Lifted(Vec<(String, Origins)>);

/// Replaces every OAS entry of `gate`'s `apis` by its Classic twin.
pub(super) fn lift(gate: &mut Value) -> Result<Lifted, ConfigError> {
    let mut lifted = Lifted::default();
    let Some(apis) = gate.get_mut("apis").and_then(Value::as_array_mut) else {
        return Ok(lifted);
    };
    for (index, entry) in apis.iter_mut().enumerate() {
        if !is_oas(entry) {
            continue;
        }
        let at = format!("apis[{index}]");
        let twin = to_classic(entry, &at)?;
        *entry = twin.api;
        lifted.0.push((at, twin.origins));
    }
    Ok(lifted)
}

impl Lifted {
    /// A refusal of a twin's Classic field, renamed to the OAS field it came from.
    pub(super) fn translate(&self, error: ConfigError) -> ConfigError {
        for (at, origins) in &self.0 {
            let Some(field) = error
                .path
                .strip_prefix(at.as_str())
                .and_then(|rest| rest.strip_prefix('.'))
            else {
                continue;
            };
            if let Some(oas) = origins.oas_path(field) {
                return ConfigError::new(format!("{at}.{oas}"), error.kind);
            }
        }
        error
    }
}

/// An object of a list, with its path (`...Mapping[2]`).
type ListEntry<'v> = (String, &'v Map<String, Value>);

/// One OAS entry being read; `at` is its path in the gate.
struct Entry<'v> {
    root: &'v Value,
    at: &'v str,
}

// Not inlined: these are called from many places, and the filter's size is budgeted.
impl<'v> Entry<'v> {
    #[cold]
    #[inline(never)]
    fn refuse(&self, path: String, kind: ConfigErrorKind) -> ConfigError {
        match self.at.is_empty() {
            true => ConfigError::new(path, kind),
            false => ConfigError::new(format!("{}.{path}", self.at), kind),
        }
    }

    /// serde's wording, as for a Classic field of the wrong type.
    #[cold]
    #[inline(never)]
    fn wrong_type(&self, path: String, found: &Value, expected: &str) -> ConfigError {
        let found = match found {
            Value::Bool(_) => "boolean",
            Value::Number(_) => "number",
            Value::String(_) => "string",
            Value::Array(_) => "array",
            Value::Object(_) => "object",
            Value::Null => "null",
        };
        let reason = format!("invalid type: {found}, expected {expected}");
        self.refuse(path, ConfigErrorKind::Malformed(reason))
    }

    /// The value at `keys` from the entry's top; absent and `null` alike are `None`.
    #[inline(never)]
    fn find(&self, keys: &[&str]) -> Result<Option<&'v Value>, ConfigError> {
        let mut value = self.root;
        for (depth, key) in keys.iter().enumerate() {
            let Value::Object(fields) = value else {
                let parent = keys.get(..depth).unwrap_or(keys).join(".");
                return Err(self.wrong_type(parent, value, "an object"));
            };
            match fields.get(*key) {
                None | Some(Value::Null) => return Ok(None),
                Some(next) => value = next,
            }
        }
        Ok(Some(value))
    }

    #[inline(never)]
    fn flag(&self, keys: &[&str], value: Option<&Value>) -> Result<Option<bool>, ConfigError> {
        match value {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(other) => Err(self.wrong_type(keys.join("."), other, "a boolean")),
        }
    }

    #[inline(never)]
    fn text(
        &self,
        keys: &[&str],
        value: Option<&'v Value>,
    ) -> Result<Option<&'v str>, ConfigError> {
        match value {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(other) => Err(self.wrong_type(keys.join("."), other, "a string")),
        }
    }

    /// A list, checked to hold only strings: Tyk's schema checks only the first element
    /// (draft-04 tuple `items`), but Go cannot read anything else into its `[]string`.
    #[inline(never)]
    fn texts(
        &self,
        path: &str,
        value: Option<&'v Value>,
    ) -> Result<Option<Vec<&'v str>>, ConfigError> {
        let items = match value {
            None => return Ok(None),
            Some(Value::Array(items)) => items,
            Some(other) => return Err(self.wrong_type(path.to_owned(), other, "an array")),
        };
        let mut texts = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            match item {
                Value::String(s) => texts.push(s.as_str()),
                other => return Err(self.wrong_type(format!("{path}[{i}]"), other, "a string")),
            }
        }
        Ok(Some(texts))
    }

    /// Tyk's `tlsVersionFromString`. Other strings are refused, as Tyk's schema refuses them
    /// (its Go code would quietly read them as "the default").
    #[inline(never)]
    fn tls_version(
        &self,
        keys: &[&str],
        value: Option<&'v Value>,
    ) -> Result<Option<u16>, ConfigError> {
        let number = match self.text(keys, value)? {
            None => return Ok(None),
            Some("1.0") => 0x0301,
            Some("1.1") => 0x0302,
            Some("1.2") => 0x0303,
            Some("1.3") => 0x0304,
            Some(other) => {
                return Err(self.refuse(
                    keys.join("."),
                    ConfigErrorKind::Invalid(format!(
                        "{other:?} is not a TLS version: write \"1.0\", \"1.1\", \"1.2\" or \"1.3\""
                    )),
                ));
            }
        };
        Ok(Some(number))
    }

    /// The objects of a list, each with its path (`...Mapping[2]`).
    #[inline(never)]
    fn entries(
        &self,
        keys: &[&str],
        value: Option<&'v Value>,
    ) -> Result<Vec<ListEntry<'v>>, ConfigError> {
        let path = keys.join(".");
        let items = match value {
            None => return Ok(Vec::new()),
            Some(Value::Array(items)) => items,
            Some(other) => return Err(self.wrong_type(path, other, "an array")),
        };
        let mut entries = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            let at = format!("{path}[{i}]");
            match item {
                Value::Object(fields) => entries.push((at, fields)),
                other => return Err(self.wrong_type(at, other, "an object")),
            }
        }
        Ok(entries)
    }

    /// `domainToCertificateMapping[].{domain, certificate}` → `upstream_certificates`. Tyk
    /// fills a Go map in list order: a repeated domain keeps its last certificate.
    #[inline(never)]
    fn certificate_map(
        &self,
        keys: &[&str],
        value: Option<&'v Value>,
        origins: &mut Origins,
    ) -> Result<Value, ConfigError> {
        let mut map = Map::new();
        for (at, fields) in self.entries(keys, value)? {
            let text = |name: &str| match fields.get(name) {
                Some(Value::String(s)) => Ok(s.clone()),
                None | Some(Value::Null) => Err(self.refuse(
                    format!("{at}.{name}"),
                    ConfigErrorKind::Required(" (Tyk's schema requires it)"),
                )),
                Some(other) => Err(self.wrong_type(format!("{at}.{name}"), other, "a string")),
            };
            let domain = text("domain")?;
            let certificate = text("certificate")?;
            origins.record(map_entry_path("upstream_certificates", &domain), at);
            map.insert(domain, Value::String(certificate));
        }
        Ok(Value::Object(map))
    }

    /// `domainToPublicKeysMapping[].{domain, publicKeys[]}` → `pinned_public_keys`, the keys
    /// of a domain comma-joined (Tyk's ExtractTo). Neither field is required by Tyk's schema:
    /// an empty pin reaches compile, which refuses it (at this entry).
    #[inline(never)]
    fn pin_map(
        &self,
        keys: &[&str],
        value: Option<&'v Value>,
        origins: &mut Origins,
    ) -> Result<Value, ConfigError> {
        let mut map = Map::new();
        for (at, fields) in self.entries(keys, value)? {
            let domain = match fields.get("domain") {
                Some(Value::String(s)) => s.as_str(),
                None | Some(Value::Null) => "",
                Some(other) => {
                    return Err(self.wrong_type(format!("{at}.domain"), other, "a string"));
                }
            };
            let public_keys = self.texts(&format!("{at}.publicKeys"), fields.get("publicKeys"))?;
            let mut joined = String::new();
            for key in public_keys.unwrap_or_default() {
                if !joined.is_empty() {
                    joined.push(',');
                }
                joined.push_str(key);
            }
            origins.record(map_entry_path("pinned_public_keys", domain), at);
            map.insert(domain.to_owned(), Value::String(joined));
        }
        Ok(Value::Object(map))
    }

    /// Certificate Authentication. The 5.12 contract, `certificateAuth`, decides whenever the
    /// object is there, even with `enabled: false`; otherwise the legacy
    /// `securitySchemes.<name>.enableClientCertificate` of a token scheme Tyk reads does. The
    /// token header comes along (the legacy token mode reads it).
    #[inline(never)]
    fn certificate_auth(&self, twin: &mut ClassicTwin) -> Result<Value, ConfigError> {
        let object = [EXTENSION, "server", "authentication", "certificateAuth"];
        let has_object = self.find(&object)?.is_some();
        let enabled = [
            EXTENSION,
            "server",
            "authentication",
            "certificateAuth",
            "enabled",
        ];
        let mut on = self.flag(&enabled, self.find(&enabled)?)?.unwrap_or(false);
        for name in self.token_schemes()? {
            let scheme = |leaf| {
                [
                    EXTENSION,
                    "server",
                    "authentication",
                    "securitySchemes",
                    name,
                    leaf,
                ]
            };
            put(&mut twin.api, "auth_configs.authToken.name", name.into());
            let token_on = scheme("enabled");
            let token_on = self
                .flag(&token_on, self.find(&token_on)?)?
                .unwrap_or(false);
            put(&mut twin.api, "use_standard_auth", token_on.into());
            // Tyk's AuthSources.ExtractTo, then extractAPIKeySchemeTo: the OpenAPI scheme's
            // own name wins when it is read from a header.
            let header = [
                EXTENSION,
                "server",
                "authentication",
                "securitySchemes",
                name,
                "header",
                "name",
            ];
            let openapi = |leaf| ["components", "securitySchemes", name, leaf];
            let header = match self.text(&openapi("in"), self.find(&openapi("in"))?)? {
                Some("header") => openapi("name").to_vec(),
                _ => header.to_vec(),
            };
            if let Some(header_name) = self.text(&header, self.find(&header)?)? {
                put(
                    &mut twin.api,
                    "auth_configs.authToken.auth_header_name",
                    header_name.into(),
                );
            }
            let legacy = scheme("enableClientCertificate");
            if !has_object && self.flag(&legacy, self.find(&legacy)?)? == Some(true) {
                on = true;
                twin.origins
                    .record("auth_configs.authToken.use_certificate", legacy.join("."));
            }
        }
        Ok(on.into())
    }

    /// The token schemes whose Tyk settings `extractSecurityTo` reads: the apiKey schemes
    /// (`components.securitySchemes.<name>.type`) of the OpenAPI `security` requirements it
    /// processes. In the default "legacy" mode that is the first requirement, and only when
    /// authentication is enabled or Tyk security schemes are set; in "compliant" mode every
    /// requirement, then Tyk's own `server.authentication.security`. Of one requirement one
    /// token scheme counts: the first enabled, else the first (by name, where Go's map order
    /// is random). A scheme no requirement names is not read, as in Tyk.
    #[inline(never)]
    fn token_schemes(&self) -> Result<Vec<&'v str>, ConfigError> {
        let mut requirements: Vec<Vec<&'v str>> = Vec::new();
        for (_, requirement) in self.entries(&["security"], self.find(&["security"])?)? {
            requirements.push(requirement.keys().map(String::as_str).collect());
        }
        let [tyk, server, authentication] = AUTHENTICATION;
        let mode = [tyk, server, authentication, "securityProcessingMode"];
        if self.text(&mode, self.find(&mode)?)? == Some("compliant") {
            let vendor = [tyk, server, authentication, "security"];
            let path = vendor.join(".");
            let lists = match self.find(&vendor)? {
                None => &[][..],
                Some(Value::Array(lists)) => lists,
                Some(other) => return Err(self.wrong_type(path, other, "an array")),
            };
            for (i, names) in lists.iter().enumerate() {
                requirements.push(
                    self.texts(&format!("{path}[{i}]"), Some(names))?
                        .unwrap_or_default(),
                );
            }
        } else {
            let enabled = [tyk, server, authentication, "enabled"];
            let schemes = [tyk, server, authentication, "securitySchemes"];
            let auth_on = self.flag(&enabled, self.find(&enabled)?)? == Some(true);
            let has_schemes =
                matches!(self.find(&schemes)?, Some(Value::Object(s)) if !s.is_empty());
            requirements.truncate(match auth_on || has_schemes {
                true => 1,
                false => 0,
            });
        }
        let mut chosen = Vec::new();
        for names in requirements {
            let (mut first, mut first_enabled) = (None, None);
            for name in names {
                let kind = ["components", "securitySchemes", name, "type"];
                if self.text(&kind, self.find(&kind)?)? != Some("apiKey") {
                    continue;
                }
                first = earliest(first, name);
                let enabled = [
                    tyk,
                    server,
                    authentication,
                    "securitySchemes",
                    name,
                    "enabled",
                ];
                if self.flag(&enabled, self.find(&enabled)?)? == Some(true) {
                    first_enabled = earliest(first_enabled, name);
                }
            }
            chosen.extend(first_enabled.or(first));
        }
        Ok(chosen)
    }
}

fn earliest<'v>(so_far: Option<&'v str>, name: &'v str) -> Option<&'v str> {
    Some(so_far.map_or(name, |earlier| earlier.min(name)))
}
