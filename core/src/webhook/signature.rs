//! `X-Hub-Signature-256` verification on the raw body, in constant time,
//! against every configured secret (several during a rotation).

use crate::config::WebhookSecrets;
use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// True when `header` is `sha256=<hex>` of HMAC-SHA256(secret, body) for one
/// of the secrets.
pub fn verify(secrets: &WebhookSecrets, header: Option<&[u8]>, body: &[u8]) -> bool {
    let Some(expected) = header
        .and_then(|h| h.strip_prefix(b"sha256="))
        .and_then(|hex_sig| hex::decode(hex_sig).ok())
    else {
        return false;
    };
    // Every secret is tried so the time taken does not depend on which one matched.
    secrets.iter().fold(false, |matched, secret| {
        let Ok(mut mac) = HmacSha256::new_from_slice(secret.expose().as_bytes()) else {
            return matched;
        };
        mac.update(body);
        mac.verify_slice(&expected).is_ok() | matched
    })
}

/// `sha256=<hex>` for a body: what GitHub sends, and what tests and `send` sign with.
pub fn sign(secret: &str, body: &[u8]) -> String {
    let mut mac = HmacSha256::new_from_slice(secret.as_bytes()).unwrap_or_else(|_| {
        // HMAC takes keys of any length; this branch cannot happen.
        unreachable!("HMAC accepts any key length")
    });
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const VECTOR_SECRET: &str = "It's a Secret to Everybody";
    const VECTOR_SIG: &str =
        "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";

    fn secrets(list: &str) -> WebhookSecrets {
        WebhookSecrets::parse(list).expect("non-empty")
    }

    #[test]
    fn github_documented_test_vector() {
        assert_eq!(sign(VECTOR_SECRET, b"Hello, World!"), VECTOR_SIG);
        assert!(verify(
            &secrets(VECTOR_SECRET),
            Some(VECTOR_SIG.as_bytes()),
            b"Hello, World!"
        ));
    }

    #[test]
    fn rejections() {
        let s = secrets(VECTOR_SECRET);
        type Case<'a> = (&'a str, Option<&'a [u8]>, &'a [u8]);
        let cases: &[Case] = &[
            ("missing header", None, b"Hello, World!"),
            ("other body", Some(VECTOR_SIG.as_bytes()), b"Hello, World?"),
            (
                "no prefix",
                Some(&VECTOR_SIG.as_bytes()[7..]),
                b"Hello, World!",
            ),
            (
                "sha1 prefix",
                Some(b"sha1=757107ea0eb2509fc211221cce984b8a37570b6d"),
                b"Hello, World!",
            ),
            ("not hex", Some(b"sha256=zz"), b"Hello, World!"),
            (
                "truncated",
                Some(&VECTOR_SIG.as_bytes()[..40]),
                b"Hello, World!",
            ),
            ("empty", Some(b""), b"Hello, World!"),
        ];
        for (name, header, body) in cases {
            assert!(!verify(&s, *header, body), "{name} should be rejected");
        }
    }

    #[test]
    fn any_secret_of_a_rotation_verifies() {
        let body = b"{}";
        let both = secrets("old-secret,new-secret");
        assert!(verify(
            &both,
            Some(sign("old-secret", body).as_bytes()),
            body
        ));
        assert!(verify(
            &both,
            Some(sign("new-secret", body).as_bytes()),
            body
        ));
        assert!(!verify(&both, Some(sign("other", body).as_bytes()), body));
    }
}
