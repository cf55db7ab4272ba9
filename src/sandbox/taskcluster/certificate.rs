//! Taskcluster temporary credentials, as the auth service checks them: a
//! certificate signed with the issuer's access token, and an access token
//! derived from the certificate's seed. The sandbox uses `verify`; tests and
//! demos use `issue` to make credentials the sandbox accepts.

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

fn hmac(key: &str, parts: &[&str]) -> Vec<u8> {
    let Ok(mut m) = HmacSha256::new_from_slice(key.as_bytes()) else {
        return Vec::new();
    };
    for p in parts {
        m.update(p.as_bytes());
    }
    m.finalize().into_bytes().to_vec()
}

/// The text the certificate signature covers (taskcluster-client's
/// `createTemporaryCredentials`).
fn signed_text(cert: &Value, client_id: &str) -> Option<String> {
    let version = cert.get("version")?.as_u64()?;
    let seed = cert.get("seed")?.as_str()?;
    let start = cert.get("start")?.as_i64()?;
    let expiry = cert.get("expiry")?.as_i64()?;
    let scopes: Vec<&str> = cert
        .get("scopes")?
        .as_array()?
        .iter()
        .filter_map(Value::as_str)
        .collect();
    let mut text = format!("version:{version}\n");
    if let Some(issuer) = cert.get("issuer").and_then(Value::as_str) {
        text.push_str(&format!("clientId:{client_id}\nissuer:{issuer}\n"));
    }
    text.push_str(&format!(
        "seed:{seed}\nstart:{start}\nexpiry:{expiry}\nscopes:\n{}",
        scopes.join("\n")
    ));
    Some(text)
}

/// The access token of temporary credentials: HMAC(issuer token, seed),
/// base64url without padding.
pub fn temporary_access_token(issuer_token: &str, seed: &str) -> String {
    URL_SAFE_NO_PAD.encode(hmac(issuer_token, &[seed]))
}

/// Issues unnamed temporary credentials for `issuer`: returns the
/// certificate JSON text and the temporary access token. `start`/`expiry`
/// are milliseconds since the epoch.
pub fn issue(
    issuer_token: &str,
    scopes: &[&str],
    start_ms: i64,
    expiry_ms: i64,
    seed: &str,
) -> (String, String) {
    let mut cert = json!({
        "version": 1,
        "scopes": scopes,
        "start": start_ms,
        "expiry": expiry_ms,
        "seed": seed,
    });
    let text = signed_text(&cert, "").unwrap_or_default();
    cert["signature"] = json!(STANDARD.encode(hmac(issuer_token, &[&text])));
    (cert.to_string(), temporary_access_token(issuer_token, seed))
}

/// Checks a certificate presented by `client_id`, whose permanent token is
/// `issuer_token` (the issuer's, for named credentials). Returns the
/// temporary access token the request's MAC must use, and the scopes the
/// certificate grants.
pub fn verify(
    cert: &Value,
    client_id: &str,
    issuer_token: &str,
    now_ms: i64,
) -> Result<(String, Vec<String>), String> {
    let text = signed_text(cert, client_id).ok_or("malformed certificate")?;
    let given = cert
        .get("signature")
        .and_then(Value::as_str)
        .and_then(|s| STANDARD.decode(s).ok())
        .ok_or("certificate has no valid signature")?;
    let mut m = HmacSha256::new_from_slice(issuer_token.as_bytes())
        .map_err(|_| "bad issuer key".to_owned())?;
    m.update(text.as_bytes());
    m.verify_slice(&given)
        .map_err(|_| "certificate signature does not match".to_owned())?;
    let start = cert
        .get("start")
        .and_then(Value::as_i64)
        .unwrap_or(i64::MAX);
    let expiry = cert.get("expiry").and_then(Value::as_i64).unwrap_or(0);
    if now_ms < start - 5 * 60 * 1000 || now_ms > expiry {
        return Err("certificate is not valid at this time".to_owned());
    }
    let seed = cert.get("seed").and_then(Value::as_str).unwrap_or_default();
    let scopes = cert
        .get("scopes")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    Ok((temporary_access_token(issuer_token, seed), scopes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issued_certificates_verify_and_tampering_does_not() {
        let (text, token) = issue("issuer-key", &["queue:*"], 1_000, 10_000, "seed-1");
        let cert: Value = serde_json::from_str(&text).expect("json");
        assert_eq!(
            verify(&cert, "me", "issuer-key", 5_000),
            Ok((token.clone(), vec!["queue:*".to_owned()]))
        );
        let mut widened = cert.clone();
        widened["scopes"] = json!(["*"]);
        let mut later = cert.clone();
        later["expiry"] = json!(99_999);
        let cases: Vec<(&str, Value, &str, i64)> = vec![
            ("wider scopes", widened, "issuer-key", 5_000),
            ("longer expiry", later, "issuer-key", 5_000),
            ("other issuer", cert.clone(), "other-key", 5_000),
            ("expired", cert.clone(), "issuer-key", 10_001),
        ];
        for (name, c, key, now) in cases {
            assert!(verify(&c, "me", key, now).is_err(), "{name}");
        }
        assert_ne!(token, "issuer-key");
    }
}
