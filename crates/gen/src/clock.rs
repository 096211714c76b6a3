//! `Clock`: converts the generator's time axis (seconds since the first day's midnight UTC)
//! into the timestamp spellings CloudTrail uses.
//!
//! Formatting is done by hand with Hinnant's civil-from-days algorithm because it runs several
//! times per event and must be cheap.

use chrono::Datelike;

#[derive(Clone, Debug)]
pub(crate) struct Clock {
    base_epoch: i64,
}

/// A broken-down UTC timestamp.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Civil {
    pub y: i64,
    pub mo: u32,
    pub d: u32,
    pub h: u32,
    pub mi: u32,
    pub s: u32,
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (m as i64 + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

impl Clock {
    pub(crate) fn new(start: chrono::NaiveDate) -> Self {
        let days = days_from_civil(start.year() as i64, start.month(), start.day());
        Clock {
            base_epoch: days * 86_400,
        }
    }

    /// Unix seconds of a generator time.
    pub(crate) fn epoch(&self, t: i64) -> i64 {
        self.base_epoch + t
    }

    pub(crate) fn civil(&self, t: i64) -> Civil {
        let e = self.epoch(t);
        let (y, mo, d) = civil_from_days(e.div_euclid(86_400));
        let sod = e.rem_euclid(86_400) as u32;
        Civil {
            y,
            mo,
            d,
            h: sod / 3600,
            mi: sod / 60 % 60,
            s: sod % 60,
        }
    }

    /// `2024-03-01T14:05:09Z`, the `eventTime` format.
    pub(crate) fn iso(&self, t: i64) -> String {
        let c = self.civil(t);
        format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
            c.y, c.mo, c.d, c.h, c.mi, c.s
        )
    }

    /// `2024-03-01T14:05:09.000+0000`, the spelling inside Lambda responses.
    pub(crate) fn iso_millis_offset(&self, t: i64) -> String {
        let c = self.civil(t);
        format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.000+0000",
            c.y, c.mo, c.d, c.h, c.mi, c.s
        )
    }

    /// `20240301T1405Z`, the minute stamp in log file names.
    pub(crate) fn file_minute(&self, t: i64) -> String {
        let c = self.civil(t);
        format!("{:04}{:02}{:02}T{:02}{:02}Z", c.y, c.mo, c.d, c.h, c.mi)
    }

    /// `20240301T140509Z`, the stamp in digest file names.
    pub(crate) fn file_second(&self, t: i64) -> String {
        let c = self.civil(t);
        format!(
            "{:04}{:02}{:02}T{:02}{:02}{:02}Z",
            c.y, c.mo, c.d, c.h, c.mi, c.s
        )
    }

    /// `2024/03/01`, the date folders of the S3 layout.
    pub(crate) fn folder(&self, t: i64) -> String {
        let c = self.civil(t);
        format!("{:04}/{:02}/{:02}", c.y, c.mo, c.d)
    }

    /// The Java-style dates some services put in responses: `Mar 1, 2024, 3:22:11 PM` (STS,
    /// with the comma) or `Mar 1, 2024 3:22:11 PM` (IAM, without).
    pub(crate) fn java(&self, t: i64, comma: bool) -> String {
        let c = self.civil(t);
        let (h12, ampm) = match c.h {
            0 => (12, "AM"),
            1..=11 => (c.h, "AM"),
            12 => (12, "PM"),
            _ => (c.h - 12, "PM"),
        };
        format!(
            "{} {}, {}{} {}:{:02}:{:02} {}",
            MONTHS[(c.mo - 1) as usize],
            c.d,
            c.y,
            if comma { "," } else { "" },
            h12,
            c.mi,
            c.s,
            ampm
        )
    }

    /// Unix milliseconds, as EC2 and CloudWatch Logs write times.
    pub(crate) fn millis(&self, t: i64) -> i64 {
        self.epoch(t) * 1000
    }

    /// Day of week, 0 = Monday.
    pub(crate) fn weekday(&self, t: i64) -> u32 {
        // 1970-01-01 was a Thursday.
        ((self.epoch(t).div_euclid(86_400) + 3).rem_euclid(7)) as u32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_match_cloudtrail_spellings() {
        let c = Clock::new(chrono::NaiveDate::from_ymd_opt(2024, 2, 28).unwrap());
        let t = 86_400 + 15 * 3600 + 22 * 60 + 11; // 2024-02-29 (leap day)
        assert_eq!(c.iso(t), "2024-02-29T15:22:11Z");
        assert_eq!(c.file_minute(t), "20240229T1522Z");
        assert_eq!(c.file_second(t), "20240229T152211Z");
        assert_eq!(c.folder(t + 86_400), "2024/03/01");
        assert_eq!(c.java(t, true), "Feb 29, 2024, 3:22:11 PM");
        assert_eq!(c.java(0, false), "Feb 28, 2024 12:00:00 AM");
        assert_eq!(c.iso(-1), "2024-02-27T23:59:59Z");
        assert_eq!(c.weekday(0), 2); // Wednesday
        assert_eq!(c.millis(0), 1_709_078_400_000);
    }
}
