//! The checks in front of our loopback HTTP servers (the OrbitDock hub and codexpc), in one place.
//!
//! Both servers listen on loopback and hold something worth stealing (agent sessions that run
//! commands; a model endpoint). A browser on the same machine can still be made to talk to them:
//!
//! - **DNS rebinding**: a page at `evil.example` re-points its own name to 127.0.0.1 and reads our
//!   responses as same-origin. The browser then sends `Host: evil.example`, so [`HostPolicy`]
//!   accepts only *exact* loopback names with our port: `localhost`, IPv4 addresses in
//!   127.0.0.0/8 (parsed as addresses, so `127.evil.example` is a name and is refused), and
//!   `[::1]`. Extra names can be allowed explicitly for a server bound to a public interface.
//! - **Cross-site requests**: a page elsewhere posts to us. Browsers send `Origin` on those, so an
//!   `Origin`, when present, must be our scheme (`http://`, or `https://` for a server speaking
//!   TLS) + an allowed host + our port.
//!
//! A server reached from elsewhere is known by *public names*
//! ([`HostPolicy::allow_public_name`]): the name a phone types, the Tailscale machine name, the
//! name a reverse proxy serves. Such a name is accepted on our own port (a direct connection) and
//! also at its public HTTPS endpoint (`https://NAME` or `https://NAME:PORT`), because a
//! TLS-terminating proxy passes the browser's `Host` and `Origin` through while connecting to us
//! on loopback. Only `https://` is accepted at that endpoint: a plain-HTTP page under the same
//! name can be rewritten by anyone on the path, and its `Origin` must not be able to act on us.
//! - **Token theft by timing**: tokens are compared as SHA-256 digests with [`subtle`]'s
//!   constant-time equality, so neither the length nor the first differing byte leaks.
//!
//! Names we refuse on purpose:
//! - `*.localhost` (RFC 6761 "should" resolve to loopback). Browsers hard-wire it, but the system
//!   resolver used by other clients need not (glibc's `files` backend knows `localhost` only, and
//!   the rest may go to DNS or a search domain), none of our clients uses such a name, and
//!   `HostPolicy::allow_name` can add one where a user wants it.
//! - `localhost.` with a trailing dot: a different string from the origin a browser would use for
//!   our UI (so cookies and `Origin` would not match anyway); no client of ours sends it.
//! - IPv4-mapped IPv6 (`[::ffff:127.0.0.1]`), zone ids, shortened IPv4 forms (`127.1`), leading
//!   zeros: all are spellings a resolver or browser may interpret differently from us.
//!
//! Extraction goes through libraries made for each format: [`cookie`] for `Cookie` headers,
//! [`form_urlencoded`] for query strings (after checking that every `%` escape is well-formed, so a
//! malformed query is a 400 rather than a silently different token), and `http` for URIs and
//! authorities. Errors are a typed [`Rejection`] (status, stable code, message) that each server
//! renders in its own JSON error shape.

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use http::header::{AUTHORIZATION, COOKIE, HOST, ORIGIN};
use http::uri::Authority;
use http::{HeaderMap, StatusCode, Uri};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// Why a request was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RejectionKind {
    /// No `Host` header (and no authority in the request target).
    MissingHost,
    /// `Host` names another server, or another port.
    ForbiddenHost,
    /// `Origin` is not our own origin.
    ForbiddenOrigin,
    /// No token in any accepted place.
    MissingToken,
    /// A token that does not match.
    InvalidToken,
    /// A query string that is not valid `application/x-www-form-urlencoded`.
    MalformedQuery,
}

impl RejectionKind {
    /// The HTTP status for this kind.
    pub fn status(self) -> StatusCode {
        match self {
            RejectionKind::MissingHost
            | RejectionKind::ForbiddenHost
            | RejectionKind::ForbiddenOrigin => StatusCode::FORBIDDEN,
            RejectionKind::MissingToken | RejectionKind::InvalidToken => StatusCode::UNAUTHORIZED,
            RejectionKind::MalformedQuery => StatusCode::BAD_REQUEST,
        }
    }

    /// A stable machine-readable code.
    pub fn code(self) -> &'static str {
        match self {
            RejectionKind::MissingHost => "missing_host",
            RejectionKind::ForbiddenHost => "forbidden_host",
            RejectionKind::ForbiddenOrigin => "forbidden_origin",
            RejectionKind::MissingToken => "missing_token",
            RejectionKind::InvalidToken => "invalid_token",
            RejectionKind::MalformedQuery => "malformed_query",
        }
    }
}

/// A refused request: what kind of refusal, and a message for the person reading the error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct Rejection {
    /// The kind (gives status and code).
    pub kind: RejectionKind,
    /// Human-readable; foreign input in it is escaped with `{:?}`.
    pub message: String,
}

impl Rejection {
    /// A rejection of `kind` with `message`.
    pub fn new(kind: RejectionKind, message: impl Into<String>) -> Self {
        Rejection {
            kind,
            message: message.into(),
        }
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        self.kind.status()
    }

    /// The stable code.
    pub fn code(&self) -> &'static str {
        self.kind.code()
    }
}

/// A host as we compare it: a lowercase DNS name or a parsed address.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum HostName {
    Name(String),
    V4(Ipv4Addr),
    V6(Ipv6Addr),
}

impl fmt::Display for HostName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HostName::Name(n) => f.write_str(n),
            HostName::V4(a) => write!(f, "{a}"),
            HostName::V6(a) => write!(f, "[{a}]"),
        }
    }
}

impl HostName {
    /// Parses a host without a port: `name`, `a.b.c.d`, or `[v6]` (brackets also optional for a
    /// name given in configuration). Returns `None` for anything that is not one of those.
    fn parse(host: &str) -> Option<HostName> {
        if !host.is_ascii() || host.is_empty() {
            return None;
        }
        let lower = host.to_ascii_lowercase();
        if let Some(inner) = lower.strip_prefix('[') {
            return inner
                .strip_suffix(']')
                .and_then(|v6| Ipv6Addr::from_str(v6).ok())
                .map(HostName::V6);
        }
        if let Ok(v4) = Ipv4Addr::from_str(&lower) {
            return Some(HostName::V4(v4));
        }
        if let Ok(v6) = Ipv6Addr::from_str(&lower) {
            return Some(HostName::V6(v6));
        }
        is_dns_name(&lower).then_some(HostName::Name(lower))
    }

    fn is_loopback(&self) -> bool {
        match self {
            HostName::Name(n) => n == "localhost",
            HostName::V4(a) => a.is_loopback(),
            // Only ::1 itself; IPv4-mapped forms are refused (see the crate docs).
            HostName::V6(a) => *a == Ipv6Addr::LOCALHOST,
        }
    }
}

/// LDH labels of 1..=63 characters, 253 in all, no empty label (so no trailing dot), and not all
/// digits and dots (those are IPv4 spellings `Ipv4Addr` refused, like `127.1`).
fn is_dns_name(s: &str) -> bool {
    s.len() <= 253
        && !s.bytes().all(|b| b.is_ascii_digit() || b == b'.')
        && s.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        })
}

/// Splits an authority (`host[:port]`, IPv6 in brackets) into a host and an optional port.
/// `None` for userinfo, an empty or out-of-range port, or anything `http` cannot parse.
fn parse_authority(s: &str) -> Option<(HostName, Option<u16>)> {
    if s.contains('@') {
        return None;
    }
    let authority = Authority::from_str(s).ok()?;
    let host = authority.host();
    let rest = authority.as_str().strip_prefix(host)?;
    let port = match rest.strip_prefix(':') {
        None if rest.is_empty() => None,
        None => return None,
        Some(digits) if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) => {
            Some(digits.parse::<u16>().ok()?)
        }
        Some(_) => return None,
    };
    Some((HostName::parse(host)?, port))
}

/// The scheme a server's listener speaks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum Scheme {
    /// Plain HTTP (default port 80).
    #[default]
    Http,
    /// HTTP over TLS (default port 443).
    Https,
}

impl Scheme {
    /// The port a `Host` or `Origin` without one means.
    pub fn default_port(self) -> u16 {
        match self {
            Scheme::Http => 80,
            Scheme::Https => 443,
        }
    }

    /// `http` or `https`.
    pub fn as_str(self) -> &'static str {
        match self {
            Scheme::Http => "http",
            Scheme::Https => "https",
        }
    }

    fn parse(s: &str) -> Option<Scheme> {
        if s.eq_ignore_ascii_case("http") {
            Some(Scheme::Http)
        } else if s.eq_ignore_ascii_case("https") {
            Some(Scheme::Https)
        } else {
            None
        }
    }
}

/// A name the server is known by from elsewhere, with the port of its public HTTPS endpoint
/// (`None`: 443).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct PublicName {
    host: HostName,
    port: Option<u16>,
}

/// Which `Host`s and `Origin`s a server accepts.
#[derive(Debug, Clone, Default)]
pub struct HostPolicy {
    port: Option<u16>,
    scheme: Scheme,
    extra: Vec<HostName>,
    public: Vec<PublicName>,
}

/// A name given to [`HostPolicy::allow_name`] that is not a DNS name or an IP address.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a host name or IP address")]
pub struct InvalidName(pub String);

impl HostPolicy {
    /// Loopback names only, on `port` (`None` skips the port check: for servers that do not know
    /// their port, or in-memory tests that never bind).
    pub fn loopback(port: Option<u16>) -> Self {
        HostPolicy {
            port,
            ..Default::default()
        }
    }

    /// The listener speaks `scheme` (default: plain HTTP): `Origin`s of direct connections must
    /// use it, and a `Host` without a port means its default port.
    pub fn with_scheme(mut self, scheme: Scheme) -> Self {
        self.scheme = scheme;
        self
    }

    /// The scheme the listener speaks.
    pub fn scheme(&self) -> Scheme {
        self.scheme
    }

    /// Also accept the public name `spec` (`NAME`, `NAME:PORT`, an IP address, `[v6]:PORT`):
    /// directly on our port, and at its public HTTPS endpoint (port 443 or `PORT`), as a
    /// TLS-terminating proxy forwards it (see the crate docs).
    pub fn allow_public_name(mut self, spec: &str) -> Result<Self, InvalidName> {
        let invalid = || InvalidName(spec.to_owned());
        let spec = spec.trim();
        // A bare IPv6 address has colons but no port; anything else goes through the authority
        // parser, which takes brackets and a port.
        let (host, port) = match Ipv6Addr::from_str(spec) {
            Ok(v6) => (HostName::V6(v6), None),
            Err(_) => parse_authority(spec).ok_or_else(invalid)?,
        };
        self.public.push(PublicName { host, port });
        Ok(self)
    }

    /// Also accept `name` (a DNS name or an IP address, e.g. the public name a server is bound
    /// to), on the same port.
    pub fn allow_name(mut self, name: &str) -> Result<Self, InvalidName> {
        let host = HostName::parse(name).ok_or_else(|| InvalidName(name.to_owned()))?;
        self.extra.push(host);
        Ok(self)
    }

    /// The port this policy requires, if any.
    pub fn port(&self) -> Option<u16> {
        self.port
    }

    /// A direct connection to our listener: our scheme, an allowed name, our port.
    fn direct(&self, host: &HostName, port: Option<u16>, scheme: Scheme) -> bool {
        let name_ok = host.is_loopback()
            || self.extra.contains(host)
            || self.public.iter().any(|p| &p.host == host);
        scheme == self.scheme
            && name_ok
            && self
                .port
                .is_none_or(|p| port.unwrap_or(scheme.default_port()) == p)
    }

    /// A public name at its HTTPS endpoint (a TLS-terminating proxy in front of us).
    fn fronted(&self, host: &HostName, port: Option<u16>, scheme: Scheme) -> bool {
        let https = Scheme::Https.default_port();
        scheme == Scheme::Https
            && self
                .public
                .iter()
                .any(|p| &p.host == host && p.port.unwrap_or(https) == port.unwrap_or(https))
    }

    /// Whether a `Host` header value (`host[:port]`) names this server.
    pub fn host_allowed(&self, value: &str) -> bool {
        parse_authority(value.trim()).is_some_and(|(host, port)| {
            self.direct(&host, port, self.scheme) || self.fronted(&host, port, Scheme::Https)
        })
    }

    /// Whether an `Origin` header value is our own origin: our scheme + an allowed host + our
    /// port, or a public name's HTTPS endpoint; nothing after it but an optional `/`. `null`
    /// (opaque origins) is refused.
    pub fn origin_allowed(&self, value: &str) -> bool {
        let Ok(uri) = Uri::from_str(value.trim()) else {
            return false;
        };
        let Some(scheme) = uri.scheme_str().and_then(Scheme::parse) else {
            return false;
        };
        let no_path = uri
            .path_and_query()
            .is_none_or(|pq| pq.query().is_none() && matches!(pq.path(), "" | "/"));
        no_path
            && uri
                .authority()
                .and_then(|a| parse_authority(a.as_str()))
                .is_some_and(|(host, port)| {
                    self.direct(&host, port, scheme) || self.fronted(&host, port, scheme)
                })
    }

    /// Checks `Host` (or, without one, the request target's authority, as HTTP/2 sends it) and
    /// `Origin` when present. More than one `Host` or `Origin` header is refused: a proxy and we
    /// might read different ones.
    pub fn check(&self, headers: &HeaderMap, uri: &Uri) -> Result<(), Rejection> {
        let mut hosts = headers.get_all(HOST).iter();
        let host = match (hosts.next(), hosts.next()) {
            (Some(h), None) => Some(String::from_utf8_lossy(h.as_bytes()).into_owned()),
            (Some(_), Some(_)) => {
                return Err(Rejection::new(
                    RejectionKind::ForbiddenHost,
                    "more than one Host header",
                ));
            }
            (None, _) => uri.authority().map(|a| a.as_str().to_owned()),
        };
        let Some(host) = host else {
            return Err(Rejection::new(
                RejectionKind::MissingHost,
                "missing Host header",
            ));
        };
        if !self.host_allowed(&host) {
            return Err(Rejection::new(
                RejectionKind::ForbiddenHost,
                format!("Host {host:?} is not this server; {}", self.describe()),
            ));
        }
        let mut origins = headers.get_all(ORIGIN).iter();
        match (origins.next(), origins.next()) {
            (None, _) => Ok(()),
            (Some(o), None) => {
                let origin = String::from_utf8_lossy(o.as_bytes());
                if self.origin_allowed(&origin) {
                    Ok(())
                } else {
                    Err(Rejection::new(
                        RejectionKind::ForbiddenOrigin,
                        format!("Origin {origin:?} is not allowed; {}", self.describe()),
                    ))
                }
            }
            (Some(_), Some(_)) => Err(Rejection::new(
                RejectionKind::ForbiddenOrigin,
                "more than one Origin header",
            )),
        }
    }

    fn describe(&self) -> String {
        let mut s = String::from("accepted: localhost, 127.0.0.0/8, [::1]");
        for name in self.extra.iter().chain(self.public.iter().map(|p| &p.host)) {
            s.push_str(", ");
            s.push_str(&name.to_string());
        }
        if let Some(p) = self.port {
            s.push_str(&format!(" on port {p}"));
        }
        if self.scheme == Scheme::Https {
            s.push_str(" over https");
        }
        for p in &self.public {
            s.push_str(&format!(", https://{}", p.host));
            if let Some(port) = p.port {
                s.push_str(&format!(":{port}"));
            }
        }
        s
    }
}

/// A secret token, kept as its SHA-256 digest and compared in constant time.
#[derive(Clone)]
pub struct Token {
    digest: [u8; 32],
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token(<redacted>)")
    }
}

impl Token {
    /// Keeps the digest of `secret`.
    pub fn new(secret: &str) -> Self {
        Token {
            digest: Sha256::digest(secret.as_bytes()).into(),
        }
    }

    /// Constant-time check. Comparing digests makes the compared lengths equal whatever the
    /// candidate's length, so the length does not leak either.
    pub fn matches(&self, candidate: &str) -> bool {
        let d: [u8; 32] = Sha256::digest(candidate.as_bytes()).into();
        d.ct_eq(&self.digest).into()
    }

    /// `Ok` for a matching token, else a `MissingToken` / `InvalidToken` rejection.
    pub fn check(&self, candidate: Option<&str>) -> Result<(), Rejection> {
        match candidate {
            Some(t) if self.matches(t) => Ok(()),
            Some(_) => Err(Rejection::new(RejectionKind::InvalidToken, "invalid token")),
            None => Err(Rejection::new(RejectionKind::MissingToken, "missing token")),
        }
    }
}

/// The token of an `Authorization: Bearer <token>` header (the scheme is case-insensitive, as
/// RFC 9110 says). `None` without one, with another scheme, or with more than one header.
pub fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let mut all = headers.get_all(AUTHORIZATION).iter();
    let value = match (all.next(), all.next()) {
        (Some(v), None) => v.to_str().ok()?,
        _ => return None,
    };
    let (scheme, token) = value.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// The value of the cookie `name` in the request's `Cookie` headers (the first one, if a
/// browser sends it twice). Malformed pairs are skipped, as browsers do.
pub fn cookie_value(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(cookie::Cookie::split_parse)
        .filter_map(Result::ok)
        .find(|c| c.name() == name)
        .map(|c| c.value_trimmed().to_owned())
}

/// The decoded value of `name` in a query string (first occurrence). A query with a `%` not
/// followed by two hex digits, or with raw bytes outside visible ASCII (RFC 3986 allows neither),
/// is a `MalformedQuery` rejection: decoding it leniently would compare a token the client did
/// not mean to send.
pub fn query_value(query: Option<&str>, name: &str) -> Result<Option<String>, Rejection> {
    let Some(query) = query else {
        return Ok(None);
    };
    validate_query(query)?;
    Ok(form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned()))
}

fn validate_query(query: &str) -> Result<(), Rejection> {
    let bytes = query.as_bytes();
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if !b.is_ascii_graphic() {
            return Err(Rejection::new(
                RejectionKind::MalformedQuery,
                "query string has a byte that must be percent-encoded",
            ));
        }
        if b == b'%' {
            let hex = |j: usize| bytes.get(j).is_some_and(u8::is_ascii_hexdigit);
            if !(hex(i + 1) && hex(i + 2)) {
                return Err(Rejection::new(
                    RejectionKind::MalformedQuery,
                    "query string has a `%` not followed by two hex digits",
                ));
            }
            i += 3;
        } else {
            i += 1;
        }
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use http::HeaderValue;

    #[test]
    fn hosts_table() {
        let p = HostPolicy::loopback(Some(4821));
        let table: &[(&str, bool)] = &[
            ("127.0.0.1:4821", true),
            ("localhost:4821", true),
            ("LOCALHOST:4821", true),
            ("LocalHost:4821", true),
            ("127.1.2.3:4821", true),
            ("127.255.255.255:4821", true),
            ("[::1]:4821", true),
            ("[0:0:0:0:0:0:0:1]:4821", true),
            (" 127.0.0.1:4821 ", true),
            // wrong or missing port
            ("127.0.0.1:4822", false),
            ("localhost", false),
            ("127.0.0.1:", false),
            ("127.0.0.1:99999", false),
            ("127.0.0.1:+4821", false),
            ("127.0.0.1:4821:4821", false),
            ("[::1]", false),
            // names that only look like loopback
            ("127.evil.example:4821", false),
            ("127.0.0.1.evil.example:4821", false),
            ("localhost.evil.example:4821", false),
            ("evil.localhost:4821", false),
            ("localhost.:4821", false),
            ("127.0.0.1.:4821", false),
            ("127.1:4821", false),
            ("127.0.0.01:4821", false),
            ("2130706433:4821", false),
            ("0x7f.0.0.1:4821", false),
            ("[::ffff:127.0.0.1]:4821", false),
            ("[fe80::1%25lo]:4821", false),
            ("::1:4821", false),
            ("user@localhost:4821", false),
            ("localhost@evil.example:4821", false),
            // other hosts
            ("evil.example:4821", false),
            ("10.0.0.1:4821", false),
            ("0.0.0.0:4821", false),
            ("[::]:4821", false),
            ("[2001:db8::1]:4821", false),
            ("", false),
            (":4821", false),
            // IDNA-ish garbage
            ("xn--localhost:4821", false),
            ("xn--lcalhost-9gg:4821", false),
            ("l\u{043e}calhost:4821", false),
            ("localhost\u{3002}:4821", false),
            ("local%68ost:4821", false),
            ("local host:4821", false),
            ("-localhost:4821", false),
        ];
        for (host, ok) in table {
            assert_eq!(p.host_allowed(host), *ok, "{host:?}");
        }
    }

    #[test]
    fn port_is_optional_when_unknown() {
        let p = HostPolicy::loopback(None);
        assert!(p.host_allowed("127.0.0.1"));
        assert!(p.host_allowed("127.0.0.1:1"));
        assert!(p.host_allowed("[::1]"));
        assert!(!p.host_allowed("127.0.0.1:"));
        assert!(!p.host_allowed("127.evil.example"));
        // A default-port Host matches a server on port 80.
        assert!(HostPolicy::loopback(Some(80)).host_allowed("localhost"));
    }

    #[test]
    fn extra_names() {
        let p = HostPolicy::loopback(Some(8080))
            .allow_name("Box.Example")
            .unwrap()
            .allow_name("192.168.1.5")
            .unwrap()
            .allow_name("[fd00::5]")
            .unwrap();
        assert!(p.host_allowed("box.example:8080"));
        assert!(p.host_allowed("BOX.EXAMPLE:8080"));
        assert!(p.host_allowed("192.168.1.5:8080"));
        assert!(p.host_allowed("[fd00::5]:8080"));
        assert!(p.host_allowed("[FD00:0::5]:8080"));
        assert!(!p.host_allowed("box.example:8081"));
        assert!(!p.host_allowed("evil.box.example:8080"));
        assert!(p.origin_allowed("http://box.example:8080"));
        assert!(HostPolicy::loopback(None).allow_name("bad name").is_err());
        assert!(HostPolicy::loopback(None).allow_name("").is_err());
        assert!(
            HostPolicy::loopback(None)
                .allow_name("trailing.dot.")
                .is_err()
        );
    }

    #[test]
    fn tls_listener() {
        let p = HostPolicy::loopback(Some(4821))
            .with_scheme(Scheme::Https)
            .allow_name("192.0.2.2")
            .unwrap();
        assert!(p.host_allowed("192.0.2.2:4821"));
        assert!(p.host_allowed("localhost:4821"));
        assert!(!p.host_allowed("192.0.2.3:4821"));
        assert!(p.origin_allowed("https://192.0.2.2:4821"));
        assert!(p.origin_allowed("https://localhost:4821"));
        // A plain-HTTP page is another origin, whatever its name.
        assert!(!p.origin_allowed("http://localhost:4821"));
        assert!(!p.origin_allowed("http://192.0.2.2:4821"));
        // Without a port, Host and Origin mean 443.
        let on_443 = HostPolicy::loopback(Some(443)).with_scheme(Scheme::Https);
        assert!(on_443.host_allowed("localhost"));
        assert!(on_443.origin_allowed("https://localhost"));
        assert!(!on_443.origin_allowed("http://localhost"));
        assert!(!HostPolicy::loopback(Some(4821)).origin_allowed("https://localhost:4821"));
    }

    #[test]
    fn public_names() {
        let p = HostPolicy::loopback(Some(4821))
            .allow_public_name("box.tail1234.ts.net")
            .unwrap()
            .allow_public_name("hub.example:8443")
            .unwrap()
            .allow_public_name("fd00::2")
            .unwrap();
        let table: &[(&str, bool)] = &[
            // directly, on our port
            ("box.tail1234.ts.net:4821", true),
            ("hub.example:4821", true),
            ("[fd00::2]:4821", true),
            // at the public HTTPS endpoint a proxy serves
            ("box.tail1234.ts.net", true),
            ("box.tail1234.ts.net:443", true),
            ("hub.example:8443", true),
            ("[fd00::2]", true),
            // other ports, other names
            ("box.tail1234.ts.net:8443", false),
            ("hub.example", false),
            ("hub.example:443", false),
            ("evil.box.tail1234.ts.net", false),
            ("box.tail1234.ts.net.evil.example", false),
        ];
        for (host, ok) in table {
            assert_eq!(p.host_allowed(host), *ok, "Host {host:?}");
        }
        let origins: &[(&str, bool)] = &[
            ("http://box.tail1234.ts.net:4821", true),
            ("https://box.tail1234.ts.net", true),
            ("https://box.tail1234.ts.net:443", true),
            ("https://hub.example:8443", true),
            ("https://[fd00::2]", true),
            // the endpoint is HTTPS: a plain-HTTP page of the same name is refused
            ("http://box.tail1234.ts.net", false),
            ("http://hub.example:8443", false),
            // a direct connection speaks our scheme
            ("https://box.tail1234.ts.net:4821", false),
            ("https://hub.example", false),
            ("https://evil.example", false),
        ];
        for (origin, ok) in origins {
            assert_eq!(p.origin_allowed(origin), *ok, "Origin {origin:?}");
        }
        for bad in [
            "",
            "bad name",
            "box.example:",
            "box.example:99999",
            "user@box.example",
        ] {
            assert!(
                HostPolicy::loopback(None).allow_public_name(bad).is_err(),
                "{bad:?}"
            );
        }
        let e = p
            .check(
                &headers(&[("host", b"evil.example:4821")]),
                &Uri::from_static("/"),
            )
            .unwrap_err();
        assert!(e.message.contains("https://hub.example:8443"), "{e}");
    }

    #[test]
    fn origins_table() {
        let p = HostPolicy::loopback(Some(4821));
        let table: &[(&str, bool)] = &[
            ("http://localhost:4821", true),
            ("http://127.0.0.1:4821", true),
            ("http://[::1]:4821", true),
            ("HTTP://LOCALHOST:4821", true),
            ("http://localhost:4821/", true),
            ("https://localhost:4821", false),
            ("http://localhost:4822", false),
            ("http://localhost", false),
            ("http://evil.example:4821", false),
            ("http://127.evil.example:4821", false),
            ("http://localhost:4821/path", false),
            ("http://localhost:4821?q", false),
            ("http://user@localhost:4821", false),
            ("localhost:4821", false),
            ("null", false),
            ("", false),
            ("file://", false),
            ("ws://localhost:4821", false),
        ];
        for (origin, ok) in table {
            assert_eq!(p.origin_allowed(origin), *ok, "{origin:?}");
        }
        assert!(HostPolicy::loopback(Some(80)).origin_allowed("http://localhost"));
    }

    fn headers(pairs: &[(&'static str, &[u8])]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_bytes(v).unwrap());
        }
        h
    }

    #[test]
    fn check_gives_typed_rejections() {
        let p = HostPolicy::loopback(Some(4821));
        let uri = Uri::from_static("/api");
        assert!(
            p.check(&headers(&[("host", b"localhost:4821")]), &uri)
                .is_ok()
        );
        let e = p.check(&headers(&[]), &uri).unwrap_err();
        assert_eq!(
            (e.kind, e.status(), e.code()),
            (
                RejectionKind::MissingHost,
                StatusCode::FORBIDDEN,
                "missing_host"
            )
        );
        let e = p
            .check(&headers(&[("host", b"127.evil.example:4821")]), &uri)
            .unwrap_err();
        assert_eq!(e.kind, RejectionKind::ForbiddenHost);
        assert!(e.message.contains("\"127.evil.example:4821\""), "{e}");
        // Non-UTF-8 bytes in Host are refused and shown escaped.
        let e = p
            .check(&headers(&[("host", b"loc\xffalhost:4821")]), &uri)
            .unwrap_err();
        assert_eq!(e.kind, RejectionKind::ForbiddenHost);
        let two = headers(&[("host", b"localhost:4821"), ("host", b"evil.example")]);
        assert_eq!(
            p.check(&two, &uri).unwrap_err().kind,
            RejectionKind::ForbiddenHost
        );
        let e = p
            .check(
                &headers(&[
                    ("host", b"localhost:4821"),
                    ("origin", b"http://evil.example"),
                ]),
                &uri,
            )
            .unwrap_err();
        assert_eq!(
            (e.kind, e.code()),
            (RejectionKind::ForbiddenOrigin, "forbidden_origin")
        );
        // HTTP/2 carries the authority in the request target instead of Host.
        let h2 = Uri::from_static("http://127.0.0.1:4821/api");
        assert!(p.check(&headers(&[]), &h2).is_ok());
        let h2 = Uri::from_static("http://evil.example:4821/api");
        assert!(p.check(&headers(&[]), &h2).is_err());
    }

    #[test]
    fn tokens_compare_by_digest() {
        let t = Token::new("s3cret");
        assert!(t.matches("s3cret"));
        assert!(!t.matches("s3cre"));
        assert!(!t.matches("s3cret "));
        assert!(!t.matches(""));
        assert!(t.check(Some("s3cret")).is_ok());
        assert_eq!(
            t.check(Some("x")).unwrap_err().kind,
            RejectionKind::InvalidToken
        );
        let e = t.check(None).unwrap_err();
        assert_eq!(
            (e.kind, e.status()),
            (RejectionKind::MissingToken, StatusCode::UNAUTHORIZED)
        );
        assert_eq!(format!("{t:?}"), "Token(<redacted>)");
    }

    #[test]
    fn bearer_tokens() {
        let h = |v: &'static [u8]| headers(&[("authorization", v)]);
        assert_eq!(bearer_token(&h(b"Bearer abc")), Some("abc"));
        assert_eq!(bearer_token(&h(b"bearer  abc ")), Some("abc"));
        assert_eq!(bearer_token(&h(b"BEARER abc")), Some("abc"));
        assert_eq!(bearer_token(&h(b"Basic abc")), None);
        assert_eq!(bearer_token(&h(b"Bearer")), None);
        assert_eq!(bearer_token(&h(b"Bearer ")), None);
        assert_eq!(bearer_token(&h(b"Bearer \xc3\xa9")), None);
        assert_eq!(bearer_token(&headers(&[])), None);
        let two = headers(&[
            ("authorization", b"Bearer a"),
            ("authorization", b"Bearer b"),
        ]);
        assert_eq!(bearer_token(&two), None);
    }

    #[test]
    fn cookies() {
        let h = headers(&[
            ("cookie", b"a=1; orbitdock_token=tok; b=2"),
            ("cookie", b"orbitdock_token=later"),
        ]);
        assert_eq!(cookie_value(&h, "orbitdock_token").as_deref(), Some("tok"));
        assert_eq!(cookie_value(&h, "b").as_deref(), Some("2"));
        assert_eq!(cookie_value(&h, "c"), None);
        let h = headers(&[("cookie", b"garbage; =x; orbitdock_token=\"quoted\"")]);
        assert_eq!(
            cookie_value(&h, "orbitdock_token").as_deref(),
            Some("quoted")
        );
        let h = headers(&[("cookie", b"orbitdock_token_x=1; xorbitdock_token=2")]);
        assert_eq!(cookie_value(&h, "orbitdock_token"), None);
        let h = headers(&[("cookie", b"orbitdock_token=\xc3\xa9")]);
        assert_eq!(cookie_value(&h, "orbitdock_token"), None);
    }

    #[test]
    fn query_values() {
        let q = |s: &str, n: &str| query_value(Some(s), n);
        assert_eq!(
            q("a=1&token=x%2By+z", "token").unwrap().as_deref(),
            Some("x+y z")
        );
        assert_eq!(q("token=%C3%A9", "token").unwrap().as_deref(), Some("é"));
        assert_eq!(q("token=a&token=b", "token").unwrap().as_deref(), Some("a"));
        assert_eq!(q("a=1", "token").unwrap(), None);
        assert_eq!(q("", "token").unwrap(), None);
        assert_eq!(q("token", "token").unwrap().as_deref(), Some(""));
        assert_eq!(query_value(None, "token").unwrap(), None);
        // Invalid UTF-8 after decoding is replaced, so it can never equal a real token.
        assert_eq!(
            q("token=%ff", "token").unwrap().as_deref(),
            Some("\u{fffd}")
        );
        for bad in [
            "token=%a",
            "token=%",
            "token=%zz",
            "token=%aé",
            "token=%a\u{e9}",
            "token=%\u{e9}a",
            "token=é",
            "token=a b",
            "token=%2",
            "a=%g0&token=x",
        ] {
            let e = q(bad, "token").unwrap_err();
            assert_eq!(
                (e.kind, e.status(), e.code()),
                (
                    RejectionKind::MalformedQuery,
                    StatusCode::BAD_REQUEST,
                    "malformed_query"
                ),
                "{bad:?}"
            );
        }
    }
}
