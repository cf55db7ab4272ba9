//! Hawk as Taskcluster uses it, on the Taskcluster team's own `hawk` crate:
//! `id` = clientId, `key` = accessToken, HMAC-SHA256, a payload hash for
//! bodies, and `ext` = base64 of `{"certificate": …, "authorizedScopes": […]}`
//! (temporary credentials and the scopes a call is restricted to).
//!
//! What stays ours: the `ext` document (Taskcluster's, not Hawk's), building
//! the request from the whole URL so the MAC covers the path *and* the query
//! (`RequestBuilder::from_url`; the official `taskcluster` client passes the
//! path alone, which the deployment rejects for `?continuationToken=`), and
//! the sandbox's side of the check (`Presented`), which reads `ext` before it
//! knows which key verifies the MAC.

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use hawk::{Credentials, DigestAlgorithm, Key, PayloadHasher, RequestBuilder};
use reqwest::Url;
use serde::{Deserialize, Serialize};
use std::str::FromStr;
use std::time::{Duration, SystemTime};

/// How far a request's timestamp may be from the verifier's clock.
pub const MAX_SKEW: Duration = Duration::from_secs(60);

/// Why a header could not be made or did not verify. Never carries a key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HawkError {
    #[error("the certificate is not valid JSON")]
    BadCertificate,
    #[error("malformed Hawk header: {0}")]
    Malformed(String),
    #[error("cannot sign: {0}")]
    Signing(String),
    /// The MAC, the payload hash or the timestamp did not verify (the crate
    /// does not say which, and a client should not learn more).
    #[error("bad mac, payload hash or timestamp")]
    Rejected,
}

/// What Taskcluster reads from Hawk's `ext`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ext {
    /// Temporary credentials' certificate (a JSON object).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate: Option<serde_json::Value>,
    /// The scopes this call may rely on (a subset of the client's).
    #[serde(
        default,
        rename = "authorizedScopes",
        skip_serializing_if = "Option::is_none"
    )]
    pub authorized_scopes: Option<Vec<String>>,
}

impl Ext {
    /// `certificate` is the certificate's JSON text (`TASKCLUSTER_CERTIFICATE`).
    pub fn new(
        certificate: Option<&str>,
        authorized_scopes: Option<&[String]>,
    ) -> Result<Ext, HawkError> {
        let certificate = certificate
            .map(|c| serde_json::from_str(c).map_err(|_| HawkError::BadCertificate))
            .transpose()?;
        Ok(Ext {
            certificate,
            authorized_scopes: authorized_scopes.map(<[String]>::to_vec),
        })
    }

    /// The header's `ext` value; `None` when there is nothing to carry.
    pub fn encode(&self) -> Option<String> {
        if self.certificate.is_none() && self.authorized_scopes.is_none() {
            return None;
        }
        serde_json::to_string(self)
            .ok()
            .map(|json| STANDARD.encode(json))
    }

    /// Reads an `ext` value (standard or URL-safe base64 of JSON).
    pub fn decode(raw: &str) -> Option<Ext> {
        let bytes = STANDARD
            .decode(raw)
            .or_else(|_| URL_SAFE_NO_PAD.decode(raw))
            .ok()?;
        serde_json::from_slice(&bytes).ok()
    }
}

fn key(access_token: &str) -> Result<Key, HawkError> {
    Key::new(access_token.as_bytes(), DigestAlgorithm::Sha256)
        .map_err(|e| HawkError::Signing(e.to_string()))
}

/// Hawk's payload hash of `body` (content type lower-cased, parameters
/// dropped, as Hawk normalises it).
pub fn payload_hash(content_type: &str, body: &[u8]) -> Result<Vec<u8>, HawkError> {
    let mime = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    PayloadHasher::hash(mime, DigestAlgorithm::Sha256, body)
        .map_err(|e| HawkError::Signing(e.to_string()))
}

/// A request to sign: the whole URL (path and query are both covered).
#[derive(Clone, Copy, Debug)]
pub struct Signed<'a> {
    pub method: &'a str,
    pub url: &'a Url,
    /// `(content type, body)` of a request with a body.
    pub body: Option<(&'a str, &'a [u8])>,
    /// The encoded `ext` (see [`Ext::encode`]).
    pub ext: Option<&'a str>,
}

/// The `Authorization` header value (`Hawk id="…", …`), now, with a fresh nonce.
pub fn authorization(
    client_id: &str,
    access_token: &str,
    request: &Signed<'_>,
) -> Result<String, HawkError> {
    let nonce = uuid::Uuid::new_v4().simple().to_string();
    authorization_at(
        client_id,
        access_token,
        request,
        SystemTime::now(),
        &nonce[..12],
    )
}

/// [`authorization`] with a given timestamp and nonce (the test vectors).
pub fn authorization_at(
    client_id: &str,
    access_token: &str,
    request: &Signed<'_>,
    ts: SystemTime,
    nonce: &str,
) -> Result<String, HawkError> {
    let hash = request
        .body
        .map(|(content_type, body)| payload_hash(content_type, body))
        .transpose()?;
    let credentials = Credentials {
        id: client_id.to_owned(),
        key: key(access_token)?,
    };
    let header = RequestBuilder::from_url(request.method, request.url)
        .map_err(|e| HawkError::Signing(e.to_string()))?
        .hash(hash.as_deref())
        .ext(request.ext)
        .request()
        .make_header_full(&credentials, ts, nonce)
        .map_err(|e| HawkError::Signing(e.to_string()))?;
    Ok(format!("Hawk {header}"))
}

/// A request as the server sees it.
#[derive(Clone, Copy, Debug)]
pub struct Received<'a> {
    pub method: &'a str,
    pub host: &'a str,
    pub port: u16,
    /// Path plus `?query` when there is one, as sent.
    pub resource: &'a str,
    /// `(content type, body)` when the request has a body.
    pub body: Option<(&'a str, &'a [u8])>,
}

/// A parsed `Authorization: Hawk …` header, before its MAC is checked.
#[derive(Clone, Debug)]
pub struct Presented {
    header: hawk::Header,
    id: String,
}

impl Presented {
    pub fn parse(value: &str) -> Result<Presented, HawkError> {
        let rest = value
            .trim()
            .strip_prefix("Hawk ")
            .ok_or_else(|| HawkError::Malformed("not a Hawk header".to_owned()))?;
        let header =
            hawk::Header::from_str(rest).map_err(|e| HawkError::Malformed(e.to_string()))?;
        let id = header
            .id
            .clone()
            .ok_or_else(|| HawkError::Malformed("missing id".to_owned()))?;
        if header.ts.is_none() || header.nonce.is_none() || header.mac.is_none() {
            return Err(HawkError::Malformed("missing ts, nonce or mac".to_owned()));
        }
        Ok(Presented { header, id })
    }

    /// The clientId the request claims.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// What `ext` carries (empty without `ext`; `None` when it is unreadable).
    pub fn ext(&self) -> Option<Ext> {
        match &self.header.ext {
            None => Some(Ext::default()),
            Some(raw) => Ext::decode(raw),
        }
    }

    /// Checks the MAC (constant time, in the crate), the timestamp against
    /// this machine's clock (± [`MAX_SKEW`]) and, when the header carries a
    /// hash, that it is the body's.
    pub fn verify(&self, access_token: &str, request: &Received<'_>) -> Result<(), HawkError> {
        // Taskcluster checks the payload when the client hashed it.
        let hash = match (&self.header.hash, request.body) {
            (Some(_), Some((content_type, body))) => Some(payload_hash(content_type, body)?),
            (Some(_), None) => Some(payload_hash("", b"")?),
            (None, _) => None,
        };
        let ok = RequestBuilder::new(request.method, request.host, request.port, request.resource)
            .hash(hash.as_deref())
            .request()
            .validate_header(&self.header, &key(access_token)?, MAX_SKEW);
        if ok {
            Ok(())
        } else {
            Err(HawkError::Rejected)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::UNIX_EPOCH;

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    fn mac_of(header: &str) -> &str {
        header
            .split("mac=\"")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .unwrap_or_default()
    }

    /// The Hawk specification's examples (hapijs/hawk README, sha256).
    #[test]
    fn the_hawk_specifications_vectors() {
        let url = Url::parse("http://example.com:8000/resource/1?b=1&a=2").expect("url");
        let get = authorization_at(
            "dh37fgj492je",
            "werxhqb98rpaxn39848xrunpaw3489ruxnpa98w4rxn",
            &Signed {
                method: "GET",
                url: &url,
                body: None,
                ext: Some("some-app-ext-data"),
            },
            at(1353832234),
            "j4h3g2",
        )
        .expect("signs");
        assert_eq!(mac_of(&get), "6R4rV5iE+NPoym+WwjeHzjAGXUtLNIxmo1vpMofpLAE=");

        let post = authorization_at(
            "dh37fgj492je",
            "werxhqb98rpaxn39848xrunpaw3489ruxnpa98w4rxn",
            &Signed {
                method: "POST",
                url: &url,
                body: Some(("text/plain", b"Thank you for flying Hawk")),
                ext: Some("some-app-ext-data"),
            },
            at(1353832234),
            "j4h3g2",
        )
        .expect("signs");
        assert!(post.contains("hash=\"Yi9LfIIFRtBEPt74PVmbTF/xVAwPn7ub15ePICfgnuY=\""));
        assert_eq!(
            mac_of(&post),
            "aSe1DERmZuRl3pI36/9BdZmnErTw3sNzOOAUlfeKjVw="
        );
    }

    /// Temporary credentials: the certificate and authorizedScopes travel in
    /// `ext` as Taskcluster's clients put them; the MAC (computed
    /// independently: HMAC-SHA256 over Hawk's normalised string, key = the
    /// temporary access token) covers that `ext`.
    #[test]
    fn the_certificate_vector() {
        let certificate = r#"{"version":1,"scopes":["queue:rerun-task:*"],"start":1700000000000,"expiry":1700003600000,"seed":"seed-0123456789abcdefghijklmnopqrstuvwxyz0123","signature":"c2lnbmF0dXJl"}"#;
        let ext = Ext::new(Some(certificate), Some(&["queue:rerun-task:*".to_owned()]))
            .expect("json")
            .encode()
            .expect("ext");
        assert_eq!(
            Ext::decode(&ext).and_then(|e| e.authorized_scopes),
            Some(vec!["queue:rerun-task:*".to_owned()])
        );
        let url = Url::parse(
            "https://tc.example.com/api/queue/v1/task-group/g/list?continuationToken=a%2Fb",
        )
        .expect("url");
        let header = authorization_at(
            "rerunbot",
            "temporary-token",
            &Signed {
                method: "GET",
                url: &url,
                body: None,
                ext: Some(&ext),
            },
            at(1700000100),
            "abc123",
        )
        .expect("signs");
        assert_eq!(ext, CERTIFICATE_EXT);
        assert_eq!(mac_of(&header), CERTIFICATE_MAC);
        let presented = Presented::parse(&header).expect("parses");
        assert_eq!(presented.id(), "rerunbot");
        let carried = presented.ext().expect("ext");
        assert_eq!(
            carried.certificate,
            Some(serde_json::from_str(certificate).expect("json"))
        );
        assert_eq!(
            Ext::new(Some("not json"), None),
            Err(HawkError::BadCertificate)
        );
        assert_eq!(Ext::new(None, None).expect("empty").encode(), None);
    }

    const CERTIFICATE_EXT: &str = "eyJjZXJ0aWZpY2F0ZSI6eyJleHBpcnkiOjE3MDAwMDM2MDAwMDAsInNjb3BlcyI6WyJxdWV1ZTpyZXJ1bi10YXNrOioiXSwic2VlZCI6InNlZWQtMDEyMzQ1Njc4OWFiY2RlZmdoaWprbG1ub3BxcnN0dXZ3eHl6MDEyMyIsInNpZ25hdHVyZSI6ImMybG5ibUYwZFhKbCIsInN0YXJ0IjoxNzAwMDAwMDAwMDAwLCJ2ZXJzaW9uIjoxfSwiYXV0aG9yaXplZFNjb3BlcyI6WyJxdWV1ZTpyZXJ1bi10YXNrOioiXX0=";
    const CERTIFICATE_MAC: &str = "WGhF3zgjlkE3Dlv/LpB5TdD1b/jUmQt48TpWbD8T5dI=";

    #[test]
    fn verification_rejects_each_change() {
        let key = "secret";
        let body: &[u8] = br#"{"a":1}"#;
        let url = Url::parse("http://example.com:8000/resource/1?b=1&a=2").expect("url");
        let header = authorization(
            "c",
            key,
            &Signed {
                method: "POST",
                url: &url,
                body: Some(("application/json", body)),
                ext: None,
            },
        )
        .expect("signs");
        let presented = Presented::parse(&header).expect("parses");
        let as_sent = Received {
            method: "POST",
            host: "example.com",
            port: 8000,
            resource: "/resource/1?b=1&a=2",
            body: Some(("application/json", body)),
        };
        let cases: Vec<(&str, Received<'_>, &str, Result<(), HawkError>)> = vec![
            ("as signed", as_sent, key, Ok(())),
            (
                "query changed",
                Received {
                    resource: "/resource/1?b=1&a=3",
                    ..as_sent
                },
                key,
                Err(HawkError::Rejected),
            ),
            (
                "query dropped",
                Received {
                    resource: "/resource/1",
                    ..as_sent
                },
                key,
                Err(HawkError::Rejected),
            ),
            (
                "method changed",
                Received {
                    method: "PUT",
                    ..as_sent
                },
                key,
                Err(HawkError::Rejected),
            ),
            (
                "port changed",
                Received {
                    port: 80,
                    ..as_sent
                },
                key,
                Err(HawkError::Rejected),
            ),
            ("wrong key", as_sent, "other", Err(HawkError::Rejected)),
            (
                "body changed",
                Received {
                    body: Some(("application/json", b"{}")),
                    ..as_sent
                },
                key,
                Err(HawkError::Rejected),
            ),
        ];
        for (name, received, key, expected) in cases {
            assert_eq!(presented.verify(key, &received), expected, "{name}");
        }
        // A header signed long ago does not verify now.
        let stale = authorization_at(
            "c",
            key,
            &Signed {
                method: "POST",
                url: &url,
                body: Some(("application/json", body)),
                ext: None,
            },
            at(1000),
            "n",
        )
        .expect("signs");
        assert_eq!(
            Presented::parse(&stale)
                .expect("parses")
                .verify(key, &as_sent),
            Err(HawkError::Rejected)
        );
    }

    #[test]
    fn malformed_headers_are_rejected() {
        for bad in [
            "Basic abc",
            "Hawk id=\"a\"",
            "Hawk id=\"a\", ts=\"x\", nonce=\"n\", mac=\"m\"",
            "Hawk ts=\"1\", nonce=\"n\", mac=\"bWFj\"",
        ] {
            assert!(Presented::parse(bad).is_err(), "{bad}");
        }
    }
}
