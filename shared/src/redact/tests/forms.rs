//! The common written forms of each kind are redacted, in running text.

use super::super::RedactionKind::{self, ApiKey, Card, Email, Iban, Ipv4, Phone, Ssn};
use super::assert_redacts;

/// Checks each secret inside a few different surroundings.
fn each_in_context(kind: RedactionKind, secrets: &[&str]) {
    for secret in secrets {
        for text in [
            secret.to_string(),
            format!("see {secret} today"),
            format!("({secret})."),
            format!("value: {secret}\nnext line"),
        ] {
            assert_redacts(kind, &text, secret);
        }
    }
}

#[test]
fn email_forms() {
    each_in_context(
        Email,
        &[
            "ops-team@corp.example.net",
            "jane.doe+news@mail.co.uk",
            "a_b@x.io",
            "JOHN.SMITH@EXAMPLE.COM",
            "123@numbers.org",
        ],
    );
    assert_redacts(Email, "mailto:ops@x.io", "ops@x.io");
    assert_redacts(Email, "<ops.team@x.io>", "ops.team@x.io");
}

#[test]
fn phone_forms_north_american() {
    each_in_context(
        Phone,
        &[
            "(212) 555-0147",
            "(212)555-0147",
            "212-555-0147",
            "212.555.0147",
            "212 555 0147",
            "1-800-555-0199",
            "1 (800) 555-0199",
            "+1 212 555 0147",
            "+1-212-555-0147",
            "+1 (212) 555-0147",
            "+12125550147",
            "416-555-0199",
        ],
    );
}

#[test]
fn phone_forms_international() {
    each_in_context(
        Phone,
        &[
            "+44 20 7946 0958",
            "+442079460958",
            "+44 (0)20 7946 0958",
            "+33 1 23 45 67 89",
            "+49 30 123456",
            "+91 98765 43210",
            "+81 3-1234-5678",
            "+61 2 1234 5678",
        ],
    );
}

#[test]
fn ssn_forms() {
    each_in_context(
        Ssn,
        &["078-05-1121", "078 05 1121", "219-09-9999", "536-22-8726"],
    );
}

#[test]
fn card_forms() {
    each_in_context(
        Card,
        &[
            "4012 8888 8888 1881",
            "4012888888881881",
            "4012-8888-8888-1881",
            "4111 1111 1111 1111",
            "5555 5555 5555 4444",
            "378282246310005",
            "3782 822463 10005",
            "6011 1111 1111 1117",
            "4222222222222",
        ],
    );
}

#[test]
fn api_key_forms() {
    each_in_context(
        ApiKey,
        &[
            "sk-proj-Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4zAb7dEf0hIj3kLm6nOp9q",
            "sk-Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4zAb7dEf0hIj3k",
            "sk-ant-api03-Zx9Yw8Vu7Ts6Rq5Po4Nm3Lk2Ji1Hg0Fe-Dc_Ba9Zx8Yw7Vu6Ts5Rq4AA",
            "AKIAIOSFODNN7EXAMPLE",
            "ASIAY34FZKBOKMUTVV7A",
            "ghp_A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8",
            "gho_A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8",
            "ghs_A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8",
            "github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyzABCDEF",
            "xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx",
            "xoxp-2048-abcdef",
            "sk_live_51H8abcdefGHIJKLMNOPqrstu",
            "rk_test_51H8abcdefGHIJKLMNOPqrstu",
            "AIzaSyA1234567890abcdefghijklmnopqrstuv",
            "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c",
            "ak_Zm9vYmFyYmF6cXV4MTIzNDU2Nzg5MGFiY2RlZmdoaWprbG1ub3A",
        ],
    );
    assert_redacts(
        ApiKey,
        "OPENAI_API_KEY=sk-Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4z",
        "sk-Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4z",
    );
    assert_redacts(
        ApiKey,
        "Authorization: Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.",
        "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.",
    );
}

#[test]
fn ipv4_forms() {
    each_in_context(
        Ipv4,
        &[
            "192.168.1.20",
            "10.0.0.1",
            "8.8.8.8",
            "255.255.255.255",
            "0.0.0.0",
        ],
    );
    assert_redacts(Ipv4, "listen on 10.0.0.1:8080 now", "10.0.0.1");
    assert_redacts(Ipv4, "from 10.0.0.1-10.0.0.9", "10.0.0.1");
}

#[test]
fn iban_forms() {
    each_in_context(
        Iban,
        &[
            "GB82 WEST 1234 5698 7654 32",
            "GB82WEST12345698765432",
            "DE89 3704 0044 0532 0130 00",
            "DE89370400440532013000",
            "FR14 2004 1010 0505 0001 3M02 606",
            "NL91ABNA0417164300",
        ],
    );
    assert_redacts(
        Iban,
        "IBAN DE89 3704 0044 0532 0130 00 BIC COBADEFFXXX",
        "DE89 3704 0044 0532 0130 00",
    );
}

#[test]
fn several_kinds_in_one_text_are_all_counted() {
    let text = "Mail ops@x.io or call 212-555-0147; card 4012 8888 8888 1881, \
                key AKIAIOSFODNN7EXAMPLE from 10.0.0.1, ssn 078-05-1121, iban GB82WEST12345698765432.";
    let out = super::redact(text);
    assert_eq!(
        out.text,
        "Mail [REDACTED:email] or call [REDACTED:phone]; card [REDACTED:card], \
         key [REDACTED:api_key] from [REDACTED:ipv4], ssn [REDACTED:ssn], iban [REDACTED:iban]."
    );
    for kind in RedactionKind::ALL {
        assert_eq!(out.counts.get(kind), 1, "{kind}");
    }
    assert_eq!(super::redacted(text), out.text);
}
