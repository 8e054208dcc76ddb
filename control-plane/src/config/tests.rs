use clap::Parser;

use super::*;

#[derive(Parser)]
struct Serve {
    #[command(flatten)]
    config: ServeConfig,
}

fn parse(args: &[&str]) -> Result<ServeConfig, clap::Error> {
    Serve::try_parse_from(std::iter::once("serve").chain(args.iter().copied()))
        .map(|serve| serve.config)
}

#[test]
fn the_quota_lease_ttl_defaults_to_a_minute_and_must_be_positive() {
    assert_eq!(parse(&[]).unwrap().quota_lease_ttl_secs, 60);
    assert_eq!(
        parse(&["--quota-lease-ttl-secs", "5"])
            .unwrap()
            .quota_lease_ttl_secs,
        5
    );
    for bad in ["0", "-1", "86401", "soon"] {
        let flag = format!("--quota-lease-ttl-secs={bad}");
        let error = parse(&[&flag]).err().unwrap();
        assert!(
            error.to_string().contains("--quota-lease-ttl-secs"),
            "{error}"
        );
    }
}
