//! Deliveries of a webhook configured with content type
//! `application/x-www-form-urlencoded`: GitHub sends the JSON payload as the
//! form field `payload`. The signature covers the form-encoded bytes, so
//! this runs after the signature check.

/// True for a form-encoded delivery's `Content-Type`.
pub fn is_form(content_type: Option<&str>) -> bool {
    content_type
        .and_then(|t| t.split(';').next())
        .is_some_and(|t| {
            t.trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        })
}

/// The JSON bytes of the `payload` field, if there is one.
pub fn payload(body: &[u8]) -> Option<Vec<u8>> {
    form_urlencoded::parse(body)
        .find(|(name, _)| name == "payload")
        .map(|(_, value)| value.into_owned().into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_types() {
        let rows = [
            (Some("application/x-www-form-urlencoded"), true),
            (
                Some("application/x-www-form-urlencoded; charset=utf-8"),
                true,
            ),
            (Some("Application/X-WWW-Form-Urlencoded"), true),
            (Some("application/json"), false),
            (None, false),
        ];
        for (content_type, form) in rows {
            assert_eq!(is_form(content_type), form, "{content_type:?}");
        }
    }

    #[test]
    fn payload_field_is_decoded() {
        let rows: [(&[u8], Option<&str>); 4] = [
            (b"payload=%7B%22a%22%3A1%7D", Some(r#"{"a":1}"#)),
            (b"other=1&payload=%7B%22b%22+%3A+2%7D", Some(r#"{"b" : 2}"#)),
            (b"payload=", Some("")),
            (b"nothing=here", None),
        ];
        for (body, expected) in rows {
            let got = payload(body);
            assert_eq!(got.as_deref(), expected.map(str::as_bytes), "{body:?}");
        }
    }
}
