//! Hawk request signing (client side) and verification (sandbox side), as
//! Taskcluster uses it: `id` = clientId, `key` = accessToken, HMAC-SHA256,
//! and temporary credentials carried in `ext` as base64 of
//! `{"certificate": <certificate JSON>}`.
//!
//! The MAC covers the request's path *and* query string (Hawk's "resource").
//! The official `taskcluster` Rust crate (clients/client-rust, `Client::sign_request`)
//! passes `req.url().path()` to `hawk::RequestBuilder`, i.e. it signs the path
//! only, while the deployment verifies `path?query`; a paginated
//! `listTaskGroup?continuationToken=...` would then be rejected. We sign
//! `path?query` ourselves, so we do not use that crate.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

type HmacSha256 = Hmac<Sha256>;

/// How far a request's timestamp may be from the verifier's clock.
pub const MAX_SKEW_SECONDS: i64 = 60;

/// Why a header could not be made or did not verify. Never carries a key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HawkError {
    #[error("the certificate is not valid JSON")]
    BadCertificate,
    #[error("malformed Hawk header: {0}")]
    Malformed(String),
    #[error("unknown client id")]
    UnknownClient,
    #[error("request timestamp is outside the allowed skew")]
    Stale,
    #[error("bad payload hash")]
    BadPayloadHash,
    #[error("bad mac")]
    BadMac,
}

/// The parts of a request the MAC covers.
#[derive(Debug, Clone, Copy)]
pub struct RequestParts<'a> {
    pub method: &'a str,
    pub host: &'a str,
    pub port: u16,
    /// Path plus `?query` when there is one.
    pub resource: &'a str,
}

/// Hawk's payload hash: base64(SHA-256 of `hawk.1.payload\n<type>\n<body>\n`).
/// `content_type` is lower-cased and stripped of parameters, as Hawk does.
pub fn payload_hash(content_type: &str, body: &[u8]) -> String {
    let mime = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    let mut hasher = Sha256::new();
    hasher.update(b"hawk.1.payload\n");
    hasher.update(mime.as_bytes());
    hasher.update(b"\n");
    hasher.update(body);
    hasher.update(b"\n");
    STANDARD.encode(hasher.finalize())
}

/// `ext` for temporary credentials: base64 of `{"certificate": <parsed>}`.
pub fn certificate_ext(certificate_json: &str) -> Result<String, HawkError> {
    let cert: serde_json::Value =
        serde_json::from_str(certificate_json).map_err(|_| HawkError::BadCertificate)?;
    let ext = serde_json::json!({ "certificate": cert });
    Ok(STANDARD.encode(ext.to_string()))
}

/// The `hawk.1.header` normalized string.
pub fn normalized_string(
    ts: i64,
    nonce: &str,
    parts: &RequestParts<'_>,
    hash: Option<&str>,
    ext: Option<&str>,
) -> String {
    format!(
        "hawk.1.header\n{ts}\n{nonce}\n{}\n{}\n{}\n{}\n{}\n{}\n",
        parts.method.to_ascii_uppercase(),
        parts.resource,
        parts.host.to_ascii_lowercase(),
        parts.port,
        hash.unwrap_or_default(),
        ext.unwrap_or_default(),
    )
}

fn mac(key: &str, normalized: &str) -> Vec<u8> {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut m = match HmacSha256::new_from_slice(key.as_bytes()) {
        Ok(m) => m,
        Err(_) => return Vec::new(),
    };
    m.update(normalized.as_bytes());
    m.finalize().into_bytes().to_vec()
}

/// Makes an `Authorization` header value (`Hawk id="...", ...`).
#[allow(clippy::too_many_arguments)]
pub fn authorization_header(
    client_id: &str,
    access_token: &str,
    parts: &RequestParts<'_>,
    payload_hash: Option<&str>,
    ext: Option<&str>,
    ts: i64,
    nonce: &str,
) -> String {
    let normalized = normalized_string(ts, nonce, parts, payload_hash, ext);
    let mac = STANDARD.encode(mac(access_token, &normalized));
    let mut header = format!("Hawk id=\"{client_id}\", ts=\"{ts}\", nonce=\"{nonce}\"");
    if let Some(hash) = payload_hash {
        header.push_str(&format!(", hash=\"{hash}\""));
    }
    if let Some(ext) = ext {
        header.push_str(&format!(", ext=\"{ext}\""));
    }
    header.push_str(&format!(", mac=\"{mac}\""));
    header
}

/// A parsed `Authorization: Hawk ...` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HawkHeader {
    pub id: String,
    pub ts: i64,
    pub nonce: String,
    pub hash: Option<String>,
    pub ext: Option<String>,
    pub mac: String,
}

impl HawkHeader {
    /// Parses `Hawk id="..", ts="..", nonce="..", [hash=".."], [ext=".."], mac=".."`.
    pub fn parse(value: &str) -> Result<Self, HawkError> {
        let bad = |why: &str| HawkError::Malformed(why.to_owned());
        let rest = value
            .trim()
            .strip_prefix("Hawk ")
            .ok_or_else(|| bad("not a Hawk header"))?;
        let (mut id, mut ts, mut nonce, mut hash, mut ext, mut mac) =
            (None, None, None, None, None, None);
        let mut rest = rest.trim();
        while !rest.is_empty() {
            let (key, after) = rest
                .split_once("=\"")
                .ok_or_else(|| bad("expected key=\"value\""))?;
            let (val, after) = after
                .split_once('"')
                .ok_or_else(|| bad("unterminated value"))?;
            let slot = match key.trim() {
                "id" => &mut id,
                "ts" => &mut ts,
                "nonce" => &mut nonce,
                "hash" => &mut hash,
                "ext" => &mut ext,
                "mac" => &mut mac,
                // `app` and `dlg` are not used by Taskcluster.
                other => return Err(bad(&format!("unknown attribute {other}"))),
            };
            if slot.replace(val.to_owned()).is_some() {
                return Err(bad("duplicate attribute"));
            }
            rest = after.trim_start().trim_start_matches(',').trim_start();
        }
        Ok(HawkHeader {
            id: id.ok_or_else(|| bad("missing id"))?,
            ts: ts
                .ok_or_else(|| bad("missing ts"))?
                .parse()
                .map_err(|_| bad("ts is not a number"))?,
            nonce: nonce.ok_or_else(|| bad("missing nonce"))?,
            hash,
            ext,
            mac: mac.ok_or_else(|| bad("missing mac"))?,
        })
    }

    /// The certificate carried in `ext`, if any.
    pub fn certificate(&self) -> Option<serde_json::Value> {
        let raw = self.ext.as_deref()?;
        let bytes = STANDARD
            .decode(raw)
            .or_else(|_| base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(raw))
            .ok()?;
        let ext: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
        ext.get("certificate").cloned()
    }

    /// Checks the MAC (constant time), the timestamp skew and, when the
    /// request has a body, the payload hash.
    pub fn verify(
        &self,
        access_token: &str,
        parts: &RequestParts<'_>,
        body: Option<(&str, &[u8])>,
        now: i64,
    ) -> Result<(), HawkError> {
        let normalized = normalized_string(
            self.ts,
            &self.nonce,
            parts,
            self.hash.as_deref(),
            self.ext.as_deref(),
        );
        let given = STANDARD
            .decode(&self.mac)
            .map_err(|_| HawkError::Malformed("mac is not base64".to_owned()))?;
        let mut m =
            HmacSha256::new_from_slice(access_token.as_bytes()).map_err(|_| HawkError::BadMac)?;
        m.update(normalized.as_bytes());
        m.verify_slice(&given).map_err(|_| HawkError::BadMac)?;
        if (now - self.ts).abs() > MAX_SKEW_SECONDS {
            return Err(HawkError::Stale);
        }
        if let (Some(hash), Some((content_type, bytes))) = (&self.hash, body) {
            if *hash != payload_hash(content_type, bytes) {
                return Err(HawkError::BadPayloadHash);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PARTS: RequestParts<'static> = RequestParts {
        method: "GET",
        host: "example.com",
        port: 8000,
        resource: "/resource/1?b=1&a=2",
    };

    #[test]
    fn header_round_trips_and_verifies() {
        let header = authorization_header(
            "dh37fgj492je",
            "werxhqb98rpaxn39848xrunpaw3489ruxnpa98w4rxn",
            &PARTS,
            None,
            Some("some-app-ext-data"),
            1353832234,
            "j4h3g2",
        );
        let parsed = HawkHeader::parse(&header).expect("parses");
        assert_eq!(parsed.id, "dh37fgj492je");
        assert_eq!(parsed.ts, 1353832234);
        // The reference MAC from the Hawk README for this request (sha256).
        assert_eq!(parsed.mac, "6R4rV5iE+NPoym+WwjeHzjAGXUtLNIxmo1vpMofpLAE=");
        assert_eq!(
            parsed.verify(
                "werxhqb98rpaxn39848xrunpaw3489ruxnpa98w4rxn",
                &PARTS,
                None,
                1353832234
            ),
            Ok(())
        );
    }

    #[test]
    fn verification_rejects_each_change() {
        let key = "secret";
        let body = br#"{"a":1}"#;
        let hash = payload_hash("application/json", body);
        let header = authorization_header("c", key, &PARTS, Some(&hash), None, 1000, "n");
        let parsed = HawkHeader::parse(&header).expect("parses");
        let ok_body = Some(("application/json", &body[..]));
        type Case<'a> = (
            &'a str,
            RequestParts<'a>,
            Option<(&'a str, &'a [u8])>,
            &'a str,
            i64,
            Result<(), HawkError>,
        );
        let cases: Vec<Case<'_>> = vec![
            ("as signed", PARTS, ok_body, key, 1000, Ok(())),
            (
                "query changed",
                RequestParts {
                    resource: "/resource/1?b=1&a=3",
                    ..PARTS
                },
                ok_body,
                key,
                1000,
                Err(HawkError::BadMac),
            ),
            (
                "query dropped",
                RequestParts {
                    resource: "/resource/1",
                    ..PARTS
                },
                ok_body,
                key,
                1000,
                Err(HawkError::BadMac),
            ),
            (
                "method changed",
                RequestParts {
                    method: "POST",
                    ..PARTS
                },
                ok_body,
                key,
                1000,
                Err(HawkError::BadMac),
            ),
            (
                "port changed",
                RequestParts { port: 80, ..PARTS },
                ok_body,
                key,
                1000,
                Err(HawkError::BadMac),
            ),
            (
                "wrong key",
                PARTS,
                ok_body,
                "other",
                1000,
                Err(HawkError::BadMac),
            ),
            (
                "too old",
                PARTS,
                ok_body,
                key,
                1000 + MAX_SKEW_SECONDS + 1,
                Err(HawkError::Stale),
            ),
            (
                "body changed",
                PARTS,
                Some(("application/json", &b"{}"[..])),
                key,
                1000,
                Err(HawkError::BadPayloadHash),
            ),
        ];
        for (name, parts, body, key, now, expected) in cases {
            assert_eq!(parsed.verify(key, &parts, body, now), expected, "{name}");
        }
    }

    #[test]
    fn certificate_travels_in_ext() {
        let ext = certificate_ext(r#"{"version":1,"seed":"s"}"#).expect("json");
        let header = authorization_header("c", "k", &PARTS, None, Some(&ext), 1, "n");
        let parsed = HawkHeader::parse(&header).expect("parses");
        assert_eq!(
            parsed.certificate(),
            Some(serde_json::json!({"version": 1, "seed": "s"}))
        );
        assert_eq!(certificate_ext("not json"), Err(HawkError::BadCertificate));
    }

    #[test]
    fn malformed_headers_are_rejected() {
        for bad in [
            "Basic abc",
            "Hawk id=\"a\"",
            "Hawk id=\"a\", ts=\"x\", nonce=\"n\", mac=\"m\"",
            "Hawk id=\"a\", id=\"b\"",
        ] {
            assert!(HawkHeader::parse(bad).is_err(), "{bad}");
        }
    }
}
