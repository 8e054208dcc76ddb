//! Look-alikes that must come out unchanged.

use super::assert_kept;

#[test]
fn dates_times_versions_and_order_numbers() {
    for text in [
        "Flight AA 1234 departs at 10:45.",
        "Build 2.14.7 is live.",
        "Released v1.2.3 and v1.2.3.4 today.",
        "Upgrade from 1.2.3.4.5 to 1.2.3.4.6.",
        "Meeting on 2024-01-15 at 10:45, or 01/15/2024 at 10:45:30.",
        "Order #123456789 shipped.",
        "Call about order 2125550147 tomorrow.",
        "Tracking 1Z999AA10123456784 is in transit.",
        "ISBN 978-3-16-148410-0 is the edition.",
        "Timestamp 1705312800000 in milliseconds.",
        "The year 2024 had 366 days and pi is 3.14159.",
        "Total: $1,234,567.89 over 12 months.",
        "Room 101, floor 3, building 7.",
    ] {
        assert_kept(text);
    }
}

#[test]
fn card_look_alikes() {
    for text in [
        "Card ending in 1881 was charged.",
        "card 4012 8888 8888 1882",
        "card 4012888888881882",
        "card 4012 8888-8888 1881",
        "account 40128888888818810000",
        "number 1234 5678 9012 3456",
        "id x4012888888881881",
    ] {
        assert_kept(text);
    }
}

#[test]
fn phone_look_alikes() {
    for text in [
        "Extension 555-0147 only.",
        "Codes 100-200-3000 and 123-456-7890.",
        "Score +5 points, 1+1=2.",
        "Ratio 212-555-0147-9 is not a number.",
        "Call 212555014 now.",
        "Dial +1 555 now.",
    ] {
        assert_kept(text);
    }
}

#[test]
fn ssn_look_alikes() {
    for text in [
        "ssn 000-12-3456",
        "ssn 666-12-3456",
        "ssn 900-12-3456",
        "ssn 123-00-4567",
        "ssn 123-45-0000",
        "ssn 111-11-1111",
        "ssn 078051121",
        "part 078-05-1121-4",
    ] {
        assert_kept(text);
    }
}

#[test]
fn key_look_alikes() {
    for text in [
        "Use sk-learn for that.",
        "The task-force-of-many-people-working-on-the-long-hyphenated-plan met.",
        "sk-this-is-all-lowercase-prose-without-any-digits-at-all-in-it",
        "Tokens like ghp_short are fake.",
        "AKIA is the prefix of access key ids.",
        "AKIAIOSFODNN7EXAMPLEX is too long.",
        "xoxo-hugs-and-kisses-from-everyone",
        "A JWT starts with eyJ and a dot.",
        "eyJhbGciOiJIUzI1NiJ9 alone is only a header.",
        "the ak_ prefix marks gateway keys",
        "my_sk-Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4z is glued to a word",
    ] {
        assert_kept(text);
    }
}

#[test]
fn email_ip_and_iban_look_alikes() {
    for text in [
        "Write to user@localhost or @openai.",
        "a @ b.com and foo@bar",
        "host.123@x.1",
        "Address 256.1.1.1 and 1.2.3 and 1.2.3.4567.",
        "IBAN GB82 WEST 1234 5698 7654 33 has a bad check.",
        "Code AB12 CDEF GHIJ KLMN OP is not one.",
        "gb82west12345698765432 in lower case.",
    ] {
        assert_kept(text);
    }
}

#[test]
fn prose_and_unicode() {
    for text in [
        "",
        "Plain prose without anything in it.",
        "Café ☕ naïve — 日本語のテキスト, emoji 🎉 and more.",
        "Markdown | table | 12 | 34 |\n|---|---|\n",
        "fn main() { let x = 42; println!(\"{x}\"); }",
    ] {
        assert_kept(text);
    }
}
