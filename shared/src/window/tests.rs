use super::*;
use time::macros::datetime;

fn ts(dt: time::PrimitiveDateTime) -> i64 {
    dt.assume_utc().unix_timestamp()
}

#[test]
fn daily_window_starts_at_utc_midnight() {
    let at = ts(datetime!(2026-11-22 13:45:10));
    let b = Window::Daily.bounds(at).unwrap();
    assert_eq!(b.start, ts(datetime!(2026-11-22 00:00)));
    assert_eq!(b.end, ts(datetime!(2026-11-23 00:00)));
    assert_eq!(
        Window::Daily.seconds_until_reset(at).unwrap(),
        10 * 3600 + 14 * 60 + 50
    );
}

#[test]
fn the_first_second_of_a_window_belongs_to_it() {
    let at = ts(datetime!(2026-11-23 00:00));
    assert_eq!(Window::Daily.bounds(at).unwrap().start, at);
    assert_eq!(Window::Daily.seconds_until_reset(at).unwrap(), 86_400);
    let last = at - 1;
    assert_eq!(Window::Daily.bounds(last).unwrap().end, at);
    assert_eq!(Window::Daily.seconds_until_reset(last).unwrap(), 1);
}

#[test]
fn weekly_window_starts_on_monday() {
    // 2026-11-22 is a Sunday: its week began Monday 2026-11-16.
    let b = Window::Weekly
        .bounds(ts(datetime!(2026-11-22 23:59:59)))
        .unwrap();
    assert_eq!(b.start, ts(datetime!(2026-11-16 00:00)));
    assert_eq!(b.end, ts(datetime!(2026-11-23 00:00)));
    let monday = ts(datetime!(2026-11-23 00:00));
    assert_eq!(Window::Weekly.bounds(monday).unwrap().start, monday);
}

#[test]
fn weekly_window_spans_the_year_end() {
    // ISO week 1 of 2027 begins Monday 2027-01-04; 2027-01-01 is a Friday of the week
    // that began Monday 2026-12-28.
    let b = Window::Weekly
        .bounds(ts(datetime!(2027-01-01 08:00)))
        .unwrap();
    assert_eq!(b.start, ts(datetime!(2026-12-28 00:00)));
    assert_eq!(b.end, ts(datetime!(2027-01-04 00:00)));
}

#[test]
fn monthly_window_handles_year_end_and_leap_years() {
    let dec = Window::Monthly
        .bounds(ts(datetime!(2026-12-31 23:59:59)))
        .unwrap();
    assert_eq!(dec.start, ts(datetime!(2026-12-01 00:00)));
    assert_eq!(dec.end, ts(datetime!(2027-01-01 00:00)));

    let leap_feb = Window::Monthly
        .bounds(ts(datetime!(2028-02-29 12:00)))
        .unwrap();
    assert_eq!(leap_feb.end - leap_feb.start, 29 * 86_400);
    let feb = Window::Monthly
        .bounds(ts(datetime!(2027-02-10 12:00)))
        .unwrap();
    assert_eq!(feb.end - feb.start, 28 * 86_400);
    // 2100 is not a leap year; 2000 was (divisible by 400).
    let feb_2100 = Window::Monthly
        .bounds(ts(datetime!(2100-02-10 00:00)))
        .unwrap();
    assert_eq!(feb_2100.end - feb_2100.start, 28 * 86_400);
    let feb_2000 = Window::Monthly
        .bounds(ts(datetime!(2000-02-29 23:59:59)))
        .unwrap();
    assert_eq!(feb_2000.end, ts(datetime!(2000-03-01 00:00)));
    assert_eq!(feb_2000.end - feb_2000.start, 29 * 86_400);
}

#[test]
fn every_window_resets_at_the_year_end() {
    let last_second = ts(datetime!(2026-12-31 23:59:59));
    let new_year = ts(datetime!(2027-01-01 00:00));
    // The daily and monthly windows end at midnight; the ISO week runs on to Monday.
    for window in [Window::Daily, Window::Monthly] {
        assert_eq!(window.bounds(last_second).unwrap().end, new_year);
        assert_eq!(window.seconds_until_reset(last_second).unwrap(), 1);
        assert_eq!(window.bounds(new_year).unwrap().start, new_year);
    }
    assert_eq!(
        Window::Weekly.seconds_until_reset(last_second).unwrap(),
        3 * 86_400 + 1
    );
}

#[test]
fn timestamps_outside_the_calendar_are_errors_not_panics() {
    for window in [Window::Daily, Window::Weekly, Window::Monthly] {
        assert!(window.bounds(i64::MAX).is_err());
        assert!(window.bounds(i64::MIN).is_err());
        assert!(window.seconds_until_reset(i64::MAX).is_err());
    }
}

proptest::proptest! {
    #[test]
    fn every_instant_lies_in_its_window(at in -2_000_000_000i64..8_000_000_000i64) {
        for window in [Window::Daily, Window::Weekly, Window::Monthly] {
            let b = window.bounds(at).unwrap();
            proptest::prop_assert!(b.start <= at && at < b.end);
            // The next window starts exactly where this one ends.
            proptest::prop_assert_eq!(window.bounds(b.end).unwrap().start, b.end);
            proptest::prop_assert_eq!(window.bounds(b.start).unwrap(), b);
        }
    }
}
