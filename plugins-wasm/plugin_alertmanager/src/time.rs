//! Instants as milliseconds since the Unix epoch, written and read as RFC 3339 (the format of
//! Kubernetes' and Alertmanager's timestamps), without a date-time crate.

/// Milliseconds since 1970-01-01T00:00:00Z.
pub type Millis = i64;

/// Now, from the system clock (WASI's `clock_time_get` in the plugin).
pub fn now() -> Millis {
    match std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
        Ok(since) => i64::try_from(since.as_millis()).unwrap_or(i64::MAX),
        Err(before) => -i64::try_from(before.duration().as_millis()).unwrap_or(i64::MAX),
    }
}

/// `2026-11-26T20:53:44.000Z`: UTC with milliseconds, as Alertmanager accepts and echoes.
pub fn format(at: Millis) -> String {
    let days = at.div_euclid(86_400_000);
    let in_day = at.rem_euclid(86_400_000);
    let (year, month, day) = civil_from_days(days);
    let (hour, minute) = (in_day / 3_600_000, in_day / 60_000 % 60);
    let (second, milli) = (in_day / 1000 % 60, in_day % 1000);
    format!("{year:04}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}.{milli:03}Z")
}

/// Parses an RFC 3339 timestamp (`2026-11-26T20:53:44Z`, `...44.123456Z`, `...44+02:00`);
/// fractions beyond milliseconds are dropped. `None` for anything else.
pub fn parse(text: &str) -> Option<Millis> {
    let bytes = text.as_bytes();
    if bytes.len() < 20 || bytes[4] != b'-' || bytes[7] != b'-' || bytes[13] != b':' {
        return None;
    }
    if !matches!(bytes[10], b'T' | b't' | b' ') || bytes[16] != b':' {
        return None;
    }
    let number = |range| number_in(text, range);
    let (year, month, day) = (number(0..4)?, number(5..7)?, number(8..10)?);
    let (hour, minute, second) = (number(11..13)?, number(14..16)?, number(17..19)?);
    if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
        return None;
    }
    if hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    let mut rest = &text[19..];
    let mut millis = 0;
    if let Some(fraction) = rest.strip_prefix('.') {
        let digits = fraction.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        for (i, b) in fraction.bytes().take(3).enumerate() {
            if b.is_ascii_digit() {
                millis += i64::from(b - b'0') * [100, 10, 1][i];
            }
        }
        rest = &fraction[digits..];
    }
    let offset = match rest {
        "Z" | "z" => 0,
        _ => {
            let sign = match rest.as_bytes().first() {
                Some(b'+') => 1,
                Some(b'-') => -1,
                _ => return None,
            };
            if rest.len() != 6 || rest.as_bytes()[3] != b':' {
                return None;
            }
            let (h, m) = (number_in(rest, 1..3)?, number_in(rest, 4..6)?);
            if h > 23 || m > 59 {
                return None;
            }
            sign * (h * 60 + m) * 60_000
        }
    };
    let days = days_from_civil(year, month, day);
    let in_day = ((hour * 60 + minute) * 60 + second) * 1000 + millis;
    Some(days * 86_400_000 + in_day - offset)
}

fn number_in(text: &str, range: std::ops::Range<usize>) -> Option<i64> {
    let digits = text.get(range)?;
    digits.bytes().all(|b| b.is_ascii_digit()).then_some(())?;
    digits.parse().ok()
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let day_of_year = (153 * ((month + 9) % 12) + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// The date of a day since 1970-01-01 (the inverse of [`days_from_civil`]).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let days = days + 719_468;
    let era = days.div_euclid(146_097);
    let day_of_era = days - era * 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let mp = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_instants() {
        assert_eq!(format(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(parse("1970-01-01T00:00:00Z"), Some(0));
        // `date -u -d 2026-11-26T20:53:44Z +%s`
        assert_eq!(parse("2026-11-26T20:53:44Z"), Some(1_795_726_424_000));
        assert_eq!(format(1_795_726_424_000), "2026-11-26T20:53:44.000Z");
        assert_eq!(format(1_795_726_424_123), "2026-11-26T20:53:44.123Z");
        assert_eq!(
            parse("2026-11-26T20:53:44.123456Z"),
            Some(1_795_726_424_123)
        );
        assert_eq!(
            parse("2026-11-26T21:53:44.5+01:00"),
            Some(1_795_726_424_500)
        );
        assert_eq!(parse("2026-11-26T19:23:44-01:30"), Some(1_795_726_424_000));
        assert_eq!(parse("2000-02-29T23:59:59Z"), Some(951_868_799_000));
        assert_eq!(format(951_868_799_000), "2000-02-29T23:59:59.000Z");
        assert_eq!(format(-1), "1969-12-31T23:59:59.999Z");
    }

    #[test]
    fn round_trips_over_centuries() {
        let mut at: Millis = -2_208_988_800_000; // 1900-01-01
        while at < 7_258_118_400_000 {
            // 2200-01-01
            assert_eq!(parse(&format(at)), Some(at), "{}", format(at));
            at += 86_400_000 * 37 + 3_723_457;
        }
    }

    #[test]
    fn rejects_what_is_not_rfc3339() {
        for bad in [
            "",
            "2026-11-26",
            "2026-11-26T20:53:44",
            "2026-13-26T20:53:44Z",
            "2026-02-29T20:53:44Z",
            "2026-11-26T24:00:00Z",
            "2026-11-26T20:53:44.Z",
            "2026-11-26T20:53:44+0100",
            "2026-11-26T20:53:44 UTC",
            "2026-1x-26T20:53:44Z",
            "+026-11-26T20:53:44Z",
            "2026-11-26T20:53:44ZZ",
        ] {
            assert_eq!(parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn now_is_recent() {
        assert!(now() > parse("2024-01-01T00:00:00Z").expect("valid"));
    }
}
