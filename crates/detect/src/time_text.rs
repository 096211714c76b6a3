//! The text of a finding's time: a UTC time in microseconds written as Arrow writes a
//! `Timestamp(Microsecond, "UTC")` cell (RFC 3339 with `Z`, the fraction's digits as few as
//! the value needs: none, 3 or 6), without Arrow's time zone lookup and the string it makes
//! per value: on the benchmark's million events, formatting their times was a tenth of
//! printing.

use arrow::array::TimestampMicrosecondArray;
use arrow::error::ArrowError;
use arrow::util::display::{ArrayFormatter, FormatOptions};
use chrono::{DateTime, Datelike};

/// Writes times, remembering the last day's date (events printed in time order share it).
#[derive(Default)]
pub(crate) struct TimeText {
    /// The last day written (days since the epoch) and its `YYYY-MM-DD`.
    day: Option<(i64, [u8; 10])>,
}

const DAY: i64 = 86_400_000_000;

impl TimeText {
    /// `micros`' text, added to `out`.
    pub(crate) fn write(&mut self, micros: i64, out: &mut Vec<u8>) -> Result<(), ArrowError> {
        if !self.by_hand(micros, out) {
            // A year before 1 or after 9999, which RFC 3339 does not write: Arrow's text.
            let a = TimestampMicrosecondArray::from(vec![micros]).with_timezone("UTC");
            let text = ArrayFormatter::try_new(&a, &FormatOptions::default())?;
            out.extend_from_slice(text.value(0).to_string().as_bytes());
        }
        Ok(())
    }

    /// [`TimeText::write`] for the years 1 to 9999, or `false` (nothing written).
    fn by_hand(&mut self, micros: i64, out: &mut Vec<u8>) -> bool {
        let (day, of_day) = (micros.div_euclid(DAY), micros.rem_euclid(DAY));
        let date = match self.day {
            Some((d, date)) if d == day => date,
            _ => {
                let Some(t) = DateTime::from_timestamp_micros(micros) else {
                    return false;
                };
                let year = t.year();
                if !(1..=9999).contains(&year) {
                    return false;
                }
                let mut date = [0u8; 10];
                digits(&mut date[0..4], year as u64);
                date[4] = b'-';
                digits(&mut date[5..7], u64::from(t.month()));
                date[7] = b'-';
                digits(&mut date[8..10], u64::from(t.day()));
                self.day = Some((day, date));
                date
            }
        };
        let (secs, fraction) = ((of_day / 1_000_000) as u64, (of_day % 1_000_000) as u64);
        let mut text = [0u8; 27];
        text[..10].copy_from_slice(&date);
        text[10] = b'T';
        digits(&mut text[11..13], secs / 3600);
        text[13] = b':';
        digits(&mut text[14..16], secs / 60 % 60);
        text[16] = b':';
        digits(&mut text[17..19], secs % 60);
        let end = match fraction {
            0 => 19,
            f if f % 1000 == 0 => {
                text[19] = b'.';
                digits(&mut text[20..23], f / 1000);
                23
            }
            f => {
                text[19] = b'.';
                digits(&mut text[20..26], f);
                26
            }
        };
        text[end] = b'Z';
        out.extend_from_slice(&text[..=end]);
        true
    }
}

/// `n`'s last `to.len()` decimal digits, zero-padded.
fn digits(to: &mut [u8], mut n: u64) {
    for d in to.iter_mut().rev() {
        *d = b'0' + (n % 10) as u8;
        n /= 10;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_written_as_arrow_writes_them() {
        // Whole seconds, milliseconds and microseconds; midnight and the last microsecond
        // of a day; leap days; the epoch and before it; the years at the edges.
        let mut times: Vec<i64> = vec![
            0,
            -1,
            -DAY,
            1,
            999,
            1000,
            1_000_000,
            DAY - 1,
            951_782_400_000_000,     // 2000-02-29
            1_709_164_800_000_000,   // 2024-02-29
            -62_135_596_800_000_000, // 0001-01-01
            253_402_300_799_999_999, // 9999-12-31T23:59:59.999999
        ];
        // A spread of times in order (days shared), and out of order.
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for i in 0..20_000i64 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let jump = match i % 3 {
                0 => (x % 1000) as i64 * 1000,
                1 => (x % 1_000_000) as i64,
                _ => (x % 3) as i64 * 1_000_000,
            };
            times.push(1_700_000_000_000_000 + i * 7_777_777 + jump);
            times.push((x >> 8) as i64 % 300_000_000_000_000_000);
        }
        let array = TimestampMicrosecondArray::from(times.clone()).with_timezone("UTC");
        let arrow = ArrayFormatter::try_new(&array, &FormatOptions::default()).unwrap();
        let (mut t, mut by_hand) = (TimeText::default(), 0);
        for (i, us) in times.iter().enumerate() {
            let mut out = b"before ".to_vec();
            t.write(*us, &mut out).unwrap();
            let expected = format!("before {}", arrow.value(i));
            assert_eq!(String::from_utf8(out).unwrap(), expected, "{us}");
            // Written by hand unless the year is outside 1-9999.
            let mut out = Vec::new();
            if t.by_hand(*us, &mut out) {
                by_hand += 1;
            } else {
                assert!(out.is_empty());
                let year = DateTime::from_timestamp_micros(*us).map(|t| t.year());
                assert!(
                    year.is_none_or(|y| !(1..=9999).contains(&y)),
                    "{us} not by hand"
                );
            }
        }
        assert!(
            by_hand > times.len() * 9 / 10,
            "{by_hand} of {}",
            times.len()
        );
    }
}
