//! UTC quota windows (SPEC §4): daily from 00:00, weekly from Monday 00:00, monthly from
//! the 1st 00:00. Time is always passed in; the engine never reads a clock.

use serde::{Deserialize, Serialize};
use time::{Date, Duration, Month, OffsetDateTime, Time};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Window {
    Daily,
    Weekly,
    Monthly,
}

/// The half-open UTC interval `[start, end)` a window covers, in Unix seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct WindowBounds {
    pub start: i64,
    pub end: i64,
}

/// A timestamp the calendar cannot represent (beyond year ±9999).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("timestamp {0} is outside the supported calendar range")]
pub struct OutOfRange(pub i64);

impl Window {
    pub const NAMES: [&'static str; 3] = ["daily", "weekly", "monthly"];

    pub const fn name(self) -> &'static str {
        match self {
            Self::Daily => "daily",
            Self::Weekly => "weekly",
            Self::Monthly => "monthly",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "daily" => Some(Self::Daily),
            "weekly" => Some(Self::Weekly),
            "monthly" => Some(Self::Monthly),
            _ => None,
        }
    }

    /// The window containing `at` (Unix seconds, UTC).
    pub fn bounds(self, at: i64) -> Result<WindowBounds, OutOfRange> {
        let day = OffsetDateTime::from_unix_timestamp(at)
            .map_err(|_| OutOfRange(at))?
            .date();
        let (start, end) = match self {
            Self::Daily => (day, day.next_day()),
            Self::Weekly => {
                let monday =
                    day - Duration::days(i64::from(day.weekday().number_days_from_monday()));
                (monday, Some(monday + Duration::days(7)))
            }
            Self::Monthly => {
                let first = day.replace_day(1).map_err(|_| OutOfRange(at))?;
                (first, first_of_next_month(first))
            }
        };
        let end = end.ok_or(OutOfRange(at))?;
        Ok(WindowBounds {
            start: midnight(start),
            end: midnight(end),
        })
    }

    /// Whole seconds until the window containing `at` rolls over; never 0, so a
    /// `Retry-After` built from it always points past the reset.
    pub fn seconds_until_reset(self, at: i64) -> Result<u64, OutOfRange> {
        let bounds = self.bounds(at)?;
        Ok(u64::try_from(bounds.end - at).unwrap_or(1).max(1))
    }
}

fn first_of_next_month(first: Date) -> Option<Date> {
    let (year, month) = match first.month() {
        Month::December => (first.year() + 1, Month::January),
        month => (first.year(), month.next()),
    };
    Date::from_calendar_date(year, month, 1).ok()
}

fn midnight(date: Date) -> i64 {
    date.with_time(Time::MIDNIGHT).assume_utc().unix_timestamp()
}

#[cfg(test)]
mod tests;
