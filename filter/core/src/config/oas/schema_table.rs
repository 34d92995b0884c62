//! Tyk's strict schema of `x-tyk-api-gateway`, as the typo check reads it: generated from
//! `../testdata/oas/x-tyk-api-gateway.strict.json` by the test
//! `schema_table_is_generated_from_tyk_strict_schema` (oas/tests.rs), which fails when
//! the two differ and says how to regenerate. Do not edit by hand.

use super::known_fields::Node;

/// `x-tyk-api-gateway` itself.
pub(super) const ROOT: u16 = 0;

pub(super) static NODES: &[Node] = &[
    // 0: x-tyk-api-gateway
    Node::Object(&[
        ("errorOverrides", Some(1)),
        ("info", Some(6)),
        ("middleware", Some(10)),
        ("server", Some(50)),
        ("upstream", Some(99)),
    ]),
    // 1: X-Tyk-ErrorOverrides
    Node::Object(&[("enabled", None), ("value", Some(5))]),
    // 2: X-Tyk-ErrorOverride
    Node::Object(&[("match", Some(3)), ("response", Some(4))]),
    // 3: X-Tyk-ErrorMatcher
    Node::Object(&[
        ("bodyField", None),
        ("bodyValue", None),
        ("flag", None),
        ("messagePattern", None),
    ]),
    // 4: X-Tyk-ErrorResponse
    Node::Object(&[
        ("body", None),
        ("headers", None),
        ("message", None),
        ("statusCode", None),
        ("template", None),
    ]),
    // 5: X-Tyk-ErrorOverrides.value
    Node::Map(2),
    // 6: X-Tyk-Info
    Node::Object(&[
        ("dbId", None),
        ("expiration", None),
        ("id", None),
        ("name", None),
        ("orgId", None),
        ("state", Some(7)),
        ("versioning", Some(8)),
    ]),
    // 7: X-Tyk-State
    Node::Object(&[("active", None), ("internal", None)]),
    // 8: X-Tyk-Versioning
    Node::Object(&[
        ("default", None),
        ("enabled", None),
        ("fallbackToDefault", None),
        ("key", None),
        ("location", None),
        ("name", None),
        ("stripVersioningData", None),
        ("urlVersioningPattern", None),
        ("versions", Some(9)),
    ]),
    // 9: X-Tyk-VersionToID
    Node::Object(&[("id", None), ("name", None)]),
    // 10: X-Tyk-Middleware
    Node::Object(&[("global", Some(11)), ("operations", Some(49))]),
    // 11: X-Tyk-Global
    Node::Object(&[
        ("cache", Some(12)),
        ("contextVariables", Some(13)),
        ("cors", Some(14)),
        ("ignoreCase", Some(15)),
        ("pluginConfig", Some(16)),
        ("postAuthenticationPlugin", Some(19)),
        ("postAuthenticationPlugins", Some(20)),
        ("postPlugin", Some(19)),
        ("postPlugins", Some(20)),
        ("prePlugin", Some(19)),
        ("prePlugins", Some(20)),
        ("requestSizeLimit", Some(21)),
        ("responsePlugin", Some(19)),
        ("responsePlugins", Some(20)),
        ("skipQuota", None),
        ("skipQuotaReset", None),
        ("skipRateLimit", None),
        ("trafficLogs", Some(22)),
        ("transformRequestHeaders", Some(24)),
        ("transformResponseHeaders", Some(24)),
    ]),
    // 12: X-Tyk-Cache
    Node::Object(&[
        ("cacheAllSafeRequests", None),
        ("cacheByHeaders", None),
        ("cacheResponseCodes", None),
        ("controlTTLHeaderName", None),
        ("enableUpstreamCacheControl", None),
        ("enabled", None),
        ("timeout", None),
    ]),
    // 13: X-Tyk-ContextVariables
    Node::Object(&[("enabled", None)]),
    // 14: X-Tyk-CORS
    Node::Object(&[
        ("allowCredentials", None),
        ("allowedHeaders", None),
        ("allowedMethods", None),
        ("allowedOrigins", None),
        ("debug", None),
        ("enabled", None),
        ("exposedHeaders", None),
        ("maxAge", None),
        ("optionsPassthrough", None),
    ]),
    // 15: X-Tyk-IgnoreCase
    Node::Object(&[("enabled", None)]),
    // 16: X-Tyk-PluginConfig
    Node::Object(&[("bundle", Some(17)), ("data", Some(18)), ("driver", None)]),
    // 17: X-Tyk-PluginBundle
    Node::Object(&[("enabled", None), ("path", None)]),
    // 18: X-Tyk-PluginConfigData
    Node::Object(&[("enabled", None), ("value", None)]),
    // 19: X-Tyk-CustomPluginConfig
    Node::Object(&[("plugins", Some(20))]),
    // 20: X-Tyk-CustomPluginDefinition
    Node::Object(&[
        ("code", None),
        ("enabled", None),
        ("functionName", None),
        ("path", None),
        ("pluginHash", None),
        ("pluginId", None),
        ("rawBodyOnly", None),
        ("requireSession", None),
    ]),
    // 21: X-Tyk-GlobalRequestSizeLimit
    Node::Object(&[("enabled", None), ("value", None)]),
    // 22: X-Tyk-TrafficLogs
    Node::Object(&[
        ("customRetentionPeriod", None),
        ("enabled", None),
        ("plugins", Some(23)),
        ("tagHeaders", None),
    ]),
    // 23: X-Tyk-CustomAnalyticsPluginConfig
    Node::Object(&[
        ("code", None),
        ("enabled", None),
        ("functionName", None),
        ("path", None),
        ("pluginHash", None),
        ("pluginId", None),
    ]),
    // 24: X-Tyk-TransformHeaders
    Node::Object(&[("add", Some(25)), ("enabled", None), ("remove", None)]),
    // 25: X-Tyk-Header
    Node::Object(&[("name", None), ("value", None)]),
    // 26: X-Tyk-Operation
    Node::Object(&[
        ("allow", Some(27)),
        ("block", Some(27)),
        ("cache", Some(28)),
        ("circuitBreaker", Some(29)),
        ("doNotTrackEndpoint", Some(30)),
        ("enforceTimeout", Some(31)),
        ("exchange", Some(32)),
        ("ignoreAuthentication", Some(27)),
        ("internal", Some(33)),
        ("mockResponse", Some(34)),
        ("postPlugins", Some(36)),
        ("rateLimit", Some(37)),
        ("requestSizeLimit", Some(38)),
        ("scopeCheck", Some(39)),
        ("trackEndpoint", Some(30)),
        ("transformRequestBody", Some(40)),
        ("transformRequestHeaders", Some(24)),
        ("transformRequestMethod", Some(41)),
        ("transformResponseBody", Some(40)),
        ("transformResponseHeaders", Some(24)),
        ("urlRewrite", Some(42)),
        ("validateRequest", Some(47)),
        ("virtualEndpoint", Some(48)),
    ]),
    // 27: X-Tyk-Allowance
    Node::Object(&[("enabled", None), ("ignoreCase", None)]),
    // 28: X-Tyk-CachePlugin
    Node::Object(&[
        ("cacheByRegex", None),
        ("cacheResponseCodes", None),
        ("enabled", None),
        ("timeout", None),
    ]),
    // 29: X-Tyk-CircuitBreaker
    Node::Object(&[
        ("coolDownPeriod", None),
        ("enabled", None),
        ("halfOpenStateEnabled", None),
        ("sampleSize", None),
        ("threshold", None),
    ]),
    // 30: X-Tyk-TrackEndpoint
    Node::Object(&[("enabled", None)]),
    // 31: X-Tyk-EnforceTimeout
    Node::Object(&[("duration", None), ("enabled", None), ("value", None)]),
    // 32: X-Tyk-OAuth2-Exchange
    Node::Object(&[("audience", None), ("enabled", None), ("scopes", None)]),
    // 33: X-Tyk-Internal
    Node::Object(&[("enabled", None)]),
    // 34: X-Tyk-MockResponse
    Node::Object(&[
        ("body", None),
        ("code", None),
        ("enabled", None),
        ("fromOASExamples", Some(35)),
        ("headers", Some(25)),
    ]),
    // 35: X-Tyk-MockResponse.fromOASExamples
    Node::Object(&[
        ("code", None),
        ("contentType", None),
        ("enabled", None),
        ("exampleName", None),
    ]),
    // 36: X-Tyk-EndpointPostPlugin
    Node::Object(&[
        ("enabled", None),
        ("functionName", None),
        ("name", None),
        ("path", None),
    ]),
    // 37: X-Tyk-RateLimit
    Node::Object(&[("enabled", None), ("per", None), ("rate", None)]),
    // 38: X-Tyk-RequestSizeLimit
    Node::Object(&[("enabled", None), ("value", None)]),
    // 39: X-Tyk-ScopeCheck
    Node::Object(&[("enabled", None)]),
    // 40: X-Tyk-TransformBody
    Node::Object(&[
        ("body", None),
        ("enabled", None),
        ("format", None),
        ("path", None),
    ]),
    // 41: X-Tyk-TransformRequestMethod
    Node::Object(&[("enabled", None), ("toMethod", None)]),
    // 42: X-Tyk-URLRewrite
    Node::Object(&[
        ("enabled", None),
        ("pattern", None),
        ("rewriteTo", None),
        ("triggers", Some(43)),
    ]),
    // 43: X-Tyk-URLRewriteTrigger
    Node::Object(&[
        ("condition", None),
        ("rewriteTo", None),
        ("rules", Some(46)),
    ]),
    // 44: X-Tyk-URLRewriteRule
    Node::Object(&[
        ("in", None),
        ("name", None),
        ("negate", None),
        ("pattern", None),
    ]),
    // 45: X-Tyk-URLRewriteRuleForRequestBody
    Node::Object(&[
        ("in", None),
        ("name", None),
        ("negate", None),
        ("pattern", None),
    ]),
    // 46: X-Tyk-URLRewriteTrigger.rules
    Node::AnyOf(&[44, 45]),
    // 47: X-Tyk-ValidateRequest
    Node::Object(&[("enabled", None), ("errorResponseCode", None)]),
    // 48: X-Tyk-VirtualEndpoint
    Node::Object(&[
        ("body", None),
        ("enabled", None),
        ("functionName", None),
        ("name", None),
        ("path", None),
        ("proxyOnError", None),
        ("requireSession", None),
    ]),
    // 49: X-Tyk-Operations
    Node::Map(26),
    // 50: X-Tyk-Server
    Node::Object(&[
        ("authentication", Some(51)),
        ("batchProcessing", Some(91)),
        ("clientCertificates", Some(92)),
        ("contextVariables", Some(13)),
        ("customDomain", Some(93)),
        ("detailedActivityLogs", Some(94)),
        ("detailedTracing", Some(95)),
        ("eventHandlers", None),
        ("gatewayTags", Some(96)),
        ("ipAccessControl", Some(97)),
        ("listenPath", Some(98)),
        ("port", None),
        ("protocol", None),
        ("slug", None),
    ]),
    // 51: X-Tyk-Authentication
    Node::Object(&[
        ("baseIdentityProvider", None),
        ("certificateAuth", Some(52)),
        ("custom", Some(53)),
        ("customKeyLifetime", Some(58)),
        ("enabled", None),
        ("hmac", Some(59)),
        ("oidc", Some(60)),
        ("protectedResourceMetadata", Some(65)),
        ("security", None),
        ("securityProcessingMode", None),
        ("securitySchemes", Some(90)),
        ("stripAuthorizationData", None),
    ]),
    // 52: X-Tyk-CertificateAuth
    Node::Object(&[("enabled", None)]),
    // 53: X-Tyk-CustomPluginAuthentication
    Node::Object(&[
        ("config", Some(54)),
        ("cookie", Some(57)),
        ("enabled", None),
        ("header", Some(57)),
        ("query", Some(57)),
    ]),
    // 54: X-Tyk-AuthenticationPlugin
    Node::Object(&[
        ("enabled", None),
        ("functionName", None),
        ("idExtractor", Some(55)),
        ("path", None),
        ("rawBodyOnly", None),
        ("requireSession", None),
    ]),
    // 55: X-Tyk-IDExtractor
    Node::Object(&[
        ("config", Some(56)),
        ("enabled", None),
        ("source", None),
        ("with", None),
    ]),
    // 56: X-Tyk-IDExtractorConfig
    Node::Object(&[
        ("formParamName", None),
        ("headerName", None),
        ("regexp", None),
        ("regexpMatchIndex", None),
        ("xPathExp", None),
    ]),
    // 57: X-Tyk-AuthSource
    Node::Object(&[("enabled", None), ("name", None)]),
    // 58: X-Tyk-Authentication.customKeyLifetime
    Node::Object(&[
        ("enabled", None),
        ("respectValidity", None),
        ("value", None),
    ]),
    // 59: X-Tyk-HMAC
    Node::Object(&[
        ("allowedAlgorithms", None),
        ("allowedClockSkew", None),
        ("cookie", Some(57)),
        ("enabled", None),
        ("header", Some(57)),
        ("query", Some(57)),
    ]),
    // 60: X-Tyk-OIDC
    Node::Object(&[
        ("cookie", Some(57)),
        ("enabled", None),
        ("header", Some(57)),
        ("providers", Some(61)),
        ("query", Some(57)),
        ("scopes", Some(63)),
        ("segregateByClientId", None),
    ]),
    // 61: X-Tyk-Provider
    Node::Object(&[("clientToPolicyMapping", Some(62)), ("issuer", None)]),
    // 62: X-Tyk-ClientToPolicy
    Node::Object(&[("clientId", None), ("policyId", None)]),
    // 63: X-Tyk-Scopes
    Node::Object(&[
        ("claimName", None),
        ("claims", None),
        ("scopeToPolicyMapping", Some(64)),
    ]),
    // 64: X-Tyk-ScopeToPolicy
    Node::Object(&[("policyId", None), ("scope", None)]),
    // 65: X-Tyk-ProtectedResourceMetadata
    Node::Object(&[
        ("authorizationServers", None),
        ("enabled", None),
        ("resource", None),
        ("scopesSupported", None),
        ("wellKnownPath", None),
    ]),
    // 66: X-Tyk-Token
    Node::Object(&[
        ("cookie", Some(57)),
        ("enableClientCertificate", None),
        ("enabled", None),
        ("header", Some(57)),
        ("query", Some(57)),
        ("signatureValidation", Some(67)),
    ]),
    // 67: X-Tyk-Signature
    Node::Object(&[
        ("algorithm", None),
        ("allowedClockSkew", None),
        ("enabled", None),
        ("errorCode", None),
        ("errorMessage", None),
        ("header", None),
        ("query", Some(57)),
        ("secret", None),
    ]),
    // 68: X-Tyk-JWT
    Node::Object(&[
        ("allowedAudiences", None),
        ("allowedIssuers", None),
        ("allowedSubjects", None),
        ("basePolicyClaims", None),
        ("clientBaseField", None),
        ("cookie", Some(57)),
        ("customClaimValidation", Some(69)),
        ("defaultPolicies", None),
        ("enabled", None),
        ("expiresAtValidationSkew", None),
        ("header", Some(57)),
        ("identityBaseField", None),
        ("idpClientIdMappingDisabled", None),
        ("issuedAtValidationSkew", None),
        ("jtiValidation", Some(70)),
        ("jwksURIs", Some(71)),
        ("notBeforeValidationSkew", None),
        ("policyFieldName", None),
        ("query", Some(57)),
        ("scopes", Some(63)),
        ("signingMethod", None),
        ("skipKid", None),
        ("source", None),
        ("subjectClaims", None),
    ]),
    // 69: X-Tyk-JWT.customClaimValidation
    Node::Object(&[
        ("allowedValues", None),
        ("nonBlocking", None),
        ("type", None),
    ]),
    // 70: X-Tyk-JWT.jtiValidation
    Node::Object(&[("enabled", None)]),
    // 71: X-Tyk-JWT.jwksURIs
    Node::Object(&[("cacheTimeout", None), ("url", None)]),
    // 72: X-Tyk-Basic
    Node::Object(&[
        ("cacheTTL", None),
        ("cookie", Some(57)),
        ("disableCaching", None),
        ("enabled", None),
        ("extractCredentialsFromBody", Some(73)),
        ("header", Some(57)),
        ("query", Some(57)),
    ]),
    // 73: X-Tyk-ExtractCredentialsFromBody
    Node::Object(&[
        ("enabled", None),
        ("passwordRegexp", None),
        ("userRegexp", None),
    ]),
    // 74: X-Tyk-OAuth
    Node::Object(&[
        ("allowedAuthorizeTypes", None),
        ("authLoginRedirect", None),
        ("cookie", Some(57)),
        ("enabled", None),
        ("header", Some(57)),
        ("notifications", Some(75)),
        ("query", Some(57)),
        ("refreshToken", None),
    ]),
    // 75: X-Tyk-Notifications
    Node::Object(&[("onKeyChangeUrl", None), ("sharedSecret", None)]),
    // 76: X-Tyk-ExternalOAuth
    Node::Object(&[
        ("cookie", Some(57)),
        ("enabled", None),
        ("header", Some(57)),
        ("providers", Some(77)),
        ("query", Some(57)),
    ]),
    // 77: X-Tyk-OAuthProvider
    Node::Object(&[("introspection", Some(78)), ("jwt", Some(80))]),
    // 78: X-Tyk-Introspection
    Node::Object(&[
        ("cache", Some(79)),
        ("clientId", None),
        ("clientSecret", None),
        ("enabled", None),
        ("identityBaseField", None),
        ("url", None),
    ]),
    // 79: X-Tyk-IntrospectionCache
    Node::Object(&[("enabled", None), ("timeout", None)]),
    // 80: X-Tyk-JWTValidation
    Node::Object(&[
        ("enabled", None),
        ("expiresAtValidationSkew", None),
        ("identityBaseField", None),
        ("issuedAtValidationSkew", None),
        ("notBeforeValidationSkew", None),
        ("signingMethod", None),
        ("source", None),
    ]),
    // 81: X-Tyk-OAuth2
    Node::Object(&[
        ("cookie", Some(57)),
        ("enabled", None),
        ("header", Some(57)),
        ("protectedResourceMetadata", Some(82)),
        ("query", Some(57)),
        ("scopeCheck", Some(83)),
        ("tokenExchange", Some(84)),
    ]),
    // 82: X-Tyk-OAuth2-PRM
    Node::Object(&[
        ("authorizationServers", None),
        ("autoDeriveScopes", None),
        ("enabled", None),
        ("resource", None),
        ("wellKnownPath", None),
    ]),
    // 83: X-Tyk-OAuth2-ScopeCheck
    Node::Object(&[
        ("claimNames", None),
        ("enabled", None),
        ("scopeSource", None),
        ("separator", None),
    ]),
    // 84: X-Tyk-OAuth2-TokenExchange
    Node::Object(&[("enabled", None), ("providers", Some(85))]),
    // 85: X-Tyk-OAuth2-Provider
    Node::Object(&[
        ("cache", Some(86)),
        ("clientAuth", Some(87)),
        ("customParams", None),
        ("defaultTarget", Some(88)),
        ("grantType", None),
        ("issuers", None),
        ("name", None),
        ("timeout", None),
        ("tokenEndpoint", None),
    ]),
    // 86: X-Tyk-OAuth2-ExchangeCache
    Node::Object(&[
        ("enabled", None),
        ("maxTimeout", None),
        ("mode", None),
        ("safetyMargin", None),
        ("timeout", None),
    ]),
    // 87: X-Tyk-OAuth2-ClientAuth
    Node::Object(&[
        ("certId", None),
        ("clientId", None),
        ("clientSecret", None),
        ("method", None),
    ]),
    // 88: X-Tyk-OAuth2-DefaultTarget
    Node::Object(&[("audience", None), ("scopes", None)]),
    // 89: X-Tyk-Authentication.securitySchemes.*
    Node::AnyOf(&[66, 68, 72, 74, 76, 81]),
    // 90: X-Tyk-Authentication.securitySchemes
    Node::Map(89),
    // 91: X-Tyk-BatchProcessing
    Node::Object(&[("enabled", None)]),
    // 92: X-Tyk-ClientCertificates
    Node::Object(&[("allowlist", None), ("enabled", None)]),
    // 93: X-Tyk-CustomDomain
    Node::Object(&[("certificates", None), ("enabled", None), ("name", None)]),
    // 94: X-Tyk-DetailedActivityLogs
    Node::Object(&[("enabled", None)]),
    // 95: X-Tyk-DetailedTracing
    Node::Object(&[("enabled", None)]),
    // 96: X-Tyk-GatewayTags
    Node::Object(&[("enabled", None), ("tags", None)]),
    // 97: X-Tyk-IPAccessControl
    Node::Object(&[("allow", None), ("block", None), ("enabled", None)]),
    // 98: X-Tyk-ListenPath
    Node::Object(&[("strip", None), ("value", None)]),
    // 99: X-Tyk-Upstream
    Node::Object(&[
        ("authentication", Some(100)),
        ("certificatePinning", Some(107)),
        ("enforceTimeout", Some(109)),
        ("loadBalancing", Some(110)),
        ("mutualTLS", Some(112)),
        ("preserveHostHeader", Some(114)),
        ("preserveTrailingSlash", Some(115)),
        ("proxy", Some(116)),
        ("rateLimit", Some(37)),
        ("serviceDiscovery", Some(117)),
        ("tlsTransport", Some(119)),
        ("uptimeTests", Some(120)),
        ("url", None),
    ]),
    // 100: X-Tyk-UpstreamAuthentication
    Node::Object(&[
        ("basicAuth", Some(101)),
        ("enabled", None),
        ("oauth", Some(103)),
        ("requestSigning", Some(106)),
    ]),
    // 101: X-Tyk-UpstreamBasicAuthentication
    Node::Object(&[
        ("enabled", None),
        ("header", Some(102)),
        ("password", None),
        ("username", None),
    ]),
    // 102: X-Tyk-UpstreamAuthSource
    Node::Object(&[("enabled", None), ("name", None)]),
    // 103: X-Tyk-UpstreamOAuth
    Node::Object(&[
        ("allowedAuthorizeTypes", None),
        ("clientCredentials", Some(104)),
        ("enabled", None),
        ("password", Some(105)),
    ]),
    // 104: X-Tyk-UpstreamOAuth.clientCredentials
    Node::Object(&[
        ("clientId", None),
        ("clientSecret", None),
        ("extraMetadata", None),
        ("header", Some(102)),
        ("method", None),
        ("scopes", None),
        ("tokenUrl", None),
    ]),
    // 105: X-Tyk-UpstreamOAuth.password
    Node::Object(&[
        ("clientId", None),
        ("clientSecret", None),
        ("extraMetadata", None),
        ("header", Some(102)),
        ("method", None),
        ("password", None),
        ("scopes", None),
        ("tokenUrl", None),
        ("username", None),
    ]),
    // 106: X-Tyk-UpstreamRequestSigning
    Node::Object(&[
        ("algorithm", None),
        ("certificateId", None),
        ("enabled", None),
        ("headers", None),
        ("keyId", None),
        ("secret", None),
        ("signatureHeader", None),
    ]),
    // 107: X-Tyk-CertificatePinning
    Node::Object(&[("domainToPublicKeysMapping", Some(108)), ("enabled", None)]),
    // 108: X-Tyk-PinnedPublicKeys
    Node::Object(&[("domain", None), ("publicKeys", None)]),
    // 109: X-Tyk-GlobalEnforceTimeout
    Node::Object(&[("duration", None), ("enabled", None)]),
    // 110: X-Tyk-LoadBalancing
    Node::Object(&[
        ("enabled", None),
        ("skipUnavailableHosts", None),
        ("targets", Some(111)),
    ]),
    // 111: X-Tyk-LoadBalancingTarget
    Node::Object(&[("url", None), ("weight", None)]),
    // 112: X-Tyk-MutualTLS
    Node::Object(&[("domainToCertificateMapping", Some(113)), ("enabled", None)]),
    // 113: X-Tyk-DomainToCertificate
    Node::Object(&[("certificate", None), ("domain", None)]),
    // 114: X-Tyk-PreserveHostHeader
    Node::Object(&[("enabled", None)]),
    // 115: X-Tyk-PreserveTrailingSlash
    Node::Object(&[("enabled", None)]),
    // 116: X-Tyk-Proxy
    Node::Object(&[("enabled", None), ("url", None)]),
    // 117: X-Tyk-ServiceDiscovery
    Node::Object(&[
        ("cache", Some(118)),
        ("cacheTimeout", None),
        ("dataPath", None),
        ("enabled", None),
        ("endpointReturnsList", None),
        ("parentDataPath", None),
        ("portDataPath", None),
        ("queryEndpoint", None),
        ("targetPath", None),
        ("useNestedQuery", None),
        ("useTargetList", None),
    ]),
    // 118: X-Tyk-ServiceDiscoveryCache
    Node::Object(&[("enabled", None), ("timeout", None)]),
    // 119: X-Tyk-TLSTransport
    Node::Object(&[
        ("ciphers", None),
        ("forceCommonNameCheck", None),
        ("insecureSkipVerify", None),
        ("maxVersion", None),
        ("minVersion", None),
    ]),
    // 120: X-Tyk-UptimeTests
    Node::Object(&[
        ("enabled", None),
        ("hostDownRetestPeriod", None),
        ("logRetentionPeriod", None),
        ("serviceDiscovery", Some(117)),
        ("tests", Some(121)),
    ]),
    // 121: X-Tyk-UptimeTest
    Node::Object(&[
        ("body", None),
        ("commands", Some(122)),
        ("enableProxyProtocol", None),
        ("headers", None),
        ("method", None),
        ("timeout", None),
        ("url", None),
    ]),
    // 122: X-Tyk-UptimeTestCommand
    Node::Object(&[("message", None), ("name", None)]),
];
