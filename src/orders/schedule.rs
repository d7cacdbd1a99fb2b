//! Cron schedules of `cron` gates: five fields (minute hour day-of-month month day-of-week),
//! evaluated in UTC, with lists, ranges, steps and names (`*/15 9-17 * * MON-FRI`).
//!
//! When both day-of-month and day-of-week are restricted, a day matching either one is a slot
//! (Vixie cron's rule, which croner follows by default): `0 0 1 * MON` fires on the 1st and on
//! every Monday.

use chrono::{DateTime, Utc};

/// A parsed cron schedule. Build one with [`Schedule::parse`].
#[derive(Clone, Debug)]
pub struct Schedule {
    cron: croner::Cron,
}

impl Schedule {
    /// Parses a 5-field schedule; a seconds field, a sixth field or a bad field is refused
    /// with a message naming the problem.
    pub fn parse(schedule: &str) -> Result<Schedule, String> {
        let fields = schedule.split_whitespace().count();
        if fields != 5 {
            return Err(format!("expected 5 fields, found {fields}"));
        }
        croner::parser::CronParser::builder()
            .seconds(croner::parser::Seconds::Disallowed)
            .build()
            .parse(schedule)
            .map(|cron| Schedule { cron })
            .map_err(|e| e.to_string())
    }

    /// The latest slot at or before `now`, or `None` when the schedule has no slot before it
    /// (a schedule that never matches, like `0 0 30 2 *`).
    pub fn latest_at_or_before(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.cron.find_previous_occurrence(&now, true).ok()
    }

    /// The first slot strictly after `t`, or `None` when there is none.
    pub fn next_after(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.cron.find_next_occurrence(&t, false).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, mo, d, h, mi, 0).unwrap()
    }

    fn at_s(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, mo, d, h, mi, s).unwrap()
    }

    fn next(schedule: &str, t: DateTime<Utc>) -> DateTime<Utc> {
        Schedule::parse(schedule).unwrap().next_after(t).unwrap()
    }

    fn latest(schedule: &str, t: DateTime<Utc>) -> DateTime<Utc> {
        Schedule::parse(schedule).unwrap().latest_at_or_before(t).unwrap()
    }

    /// The first `n` slots after `t`.
    fn slots(schedule: &str, mut t: DateTime<Utc>, n: usize) -> Vec<DateTime<Utc>> {
        let s = Schedule::parse(schedule).unwrap();
        (0..n)
            .map(|_| {
                t = s.next_after(t).unwrap();
                t
            })
            .collect()
    }

    #[test]
    fn only_five_fields_are_accepted() {
        assert!(Schedule::parse("* * * * *").is_ok());
        assert!(Schedule::parse("0 * * * * *").unwrap_err().contains("found 6"));
        assert!(Schedule::parse("* * * *").unwrap_err().contains("found 4"));
        assert!(Schedule::parse("61 * * * *").is_err());
        assert!(Schedule::parse("* * * * FUNDAY").is_err());
    }

    #[test]
    fn the_31st_skips_thirty_day_months_and_february() {
        let got = slots("0 0 31 * *", at(2026, 1, 31, 0, 0), 4);
        assert_eq!(
            got,
            [
                at(2026, 3, 31, 0, 0),
                at(2026, 5, 31, 0, 0),
                at(2026, 7, 31, 0, 0),
                at(2026, 8, 31, 0, 0)
            ]
        );
    }

    #[test]
    fn february_29th_waits_for_a_leap_year() {
        assert_eq!(next("0 0 29 2 *", at(2026, 3, 1, 0, 0)), at(2028, 2, 29, 0, 0));
        assert_eq!(latest("0 0 29 2 *", at(2027, 6, 1, 0, 0)), at(2024, 2, 29, 0, 0));
    }

    #[test]
    fn steps_count_from_the_start_of_their_range() {
        assert_eq!(
            slots("*/15 * * * *", at_s(2026, 5, 1, 10, 7, 30), 3),
            [at(2026, 5, 1, 10, 15), at(2026, 5, 1, 10, 30), at(2026, 5, 1, 10, 45)]
        );
        assert_eq!(
            slots("1-30/10 * * * *", at(2026, 5, 1, 10, 0), 4),
            [
                at(2026, 5, 1, 10, 1),
                at(2026, 5, 1, 10, 11),
                at(2026, 5, 1, 10, 21),
                at(2026, 5, 1, 11, 1)
            ]
        );
    }

    #[test]
    fn ranges_and_names_select_days_and_months() {
        // Friday 2026-05-01 17:00 → the next weekday 9:00 is Monday the 4th.
        assert_eq!(next("0 9-17 * * MON-FRI", at(2026, 5, 1, 17, 0)), at(2026, 5, 4, 9, 0));
        assert_eq!(next("0 9-17 * * MON-FRI", at(2026, 5, 4, 9, 0)), at(2026, 5, 4, 10, 0));
        assert_eq!(
            slots("0 0 1 JAN,MAR *", at(2026, 1, 1, 0, 0), 2),
            [at(2026, 3, 1, 0, 0), at(2027, 1, 1, 0, 0)]
        );
    }

    #[test]
    fn day_of_month_or_day_of_week_matches_when_both_are_restricted() {
        // 2026-06-01 is a Monday; the 15th is a Monday too; the 8th is a Monday.
        assert_eq!(
            slots("0 0 13 * FRI", at(2026, 2, 1, 0, 0), 4),
            [
                at(2026, 2, 6, 0, 0),
                at(2026, 2, 13, 0, 0),
                at(2026, 2, 20, 0, 0),
                at(2026, 2, 27, 0, 0)
            ]
        );
        assert_eq!(
            slots("0 0 10 * FRI", at(2026, 2, 1, 0, 0), 3),
            [at(2026, 2, 6, 0, 0), at(2026, 2, 10, 0, 0), at(2026, 2, 13, 0, 0)]
        );
    }

    #[test]
    fn slots_roll_over_into_the_next_year() {
        assert_eq!(next("30 23 31 12 *", at(2026, 12, 31, 23, 30)), at(2027, 12, 31, 23, 30));
        assert_eq!(next("0 0 * * *", at(2026, 12, 31, 12, 0)), at(2027, 1, 1, 0, 0));
        assert_eq!(latest("0 0 * * *", at(2027, 1, 1, 0, 0)), at(2027, 1, 1, 0, 0));
        assert_eq!(latest("0 12 * * *", at(2027, 1, 1, 0, 0)), at(2026, 12, 31, 12, 0));
    }

    #[test]
    fn latest_includes_now_and_next_excludes_it() {
        let now = at(2026, 5, 1, 10, 15);
        assert_eq!(latest("*/15 * * * *", now), now);
        assert_eq!(latest("*/15 * * * *", at_s(2026, 5, 1, 10, 29, 59)), now);
        assert_eq!(next("*/15 * * * *", now), at(2026, 5, 1, 10, 30));
    }

    #[test]
    fn a_schedule_that_never_matches_has_no_slots() {
        let s = Schedule::parse("0 0 30 2 *").unwrap();
        assert!(s.next_after(at(2026, 1, 1, 0, 0)).is_none());
        assert!(s.latest_at_or_before(at(2026, 1, 1, 0, 0)).is_none());
    }
}
