//! Kubernetes timestamps as text (RFC 3339 in UTC with `Z`, the form the API server writes),
//! formatted digit by digit. jiff's general `strtime` formatter costs more than the rest of a
//! clearance record together and allocates; the webhook formats three of these per granted
//! clearance (DESIGN §10), so the record's timestamps are written from here. The text is the
//! same as k8s-openapi's `Time`/`MicroTime` encoding (pinned by the tests below).

use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, Time};

/// Longest text written here: `YYYY-MM-DDTHH:MM:SS.ffffffZ`.
const MAX_LEN: usize = 27;

/// `t` as `metav1.MicroTime` text: `YYYY-MM-DDTHH:MM:SS.ffffffZ` (`clearedAt` in annotations,
/// messages and the plugin).
pub fn micro(t: &MicroTime) -> String {
    let mut buf = [0; MAX_LEN];
    write(t.0, true, &mut buf).map_or_else(|| strtime(t.0, MICRO), str::to_owned)
}

/// Serialises a `MicroTime` as [`micro`] writes it (for `#[serde(serialize_with)]`).
pub fn serialize_micro<S: serde::Serializer>(
    t: &MicroTime,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    let mut buf = [0; MAX_LEN];
    match write(t.0, true, &mut buf) {
        Some(text) => serializer.serialize_str(text),
        None => serializer.serialize_str(&strtime(t.0, MICRO)),
    }
}

/// Serialises an optional `Time` as `YYYY-MM-DDTHH:MM:SSZ` (for `#[serde(serialize_with)]` on a
/// field skipped when `None`; a `None` that reaches it is written as `null`).
pub fn serialize_time_opt<S: serde::Serializer>(
    t: &Option<Time>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    let Some(t) = t else {
        return serializer.serialize_none();
    };
    let mut buf = [0; MAX_LEN];
    match write(t.0, false, &mut buf) {
        Some(text) => serializer.serialize_str(text),
        None => serializer.serialize_str(&strtime(t.0, SECONDS)),
    }
}

/// Appends `t` as [`micro`] writes it (for encoders that write JSON text themselves).
pub fn push_micro(out: &mut Vec<u8>, t: &MicroTime) {
    let mut buf = [0; MAX_LEN];
    match write(t.0, true, &mut buf) {
        Some(text) => out.extend_from_slice(text.as_bytes()),
        None => out.extend_from_slice(strtime(t.0, MICRO).as_bytes()),
    }
}

/// Appends `t` as `metav1.Time` text, `YYYY-MM-DDTHH:MM:SSZ`.
pub fn push_seconds(out: &mut Vec<u8>, t: &Time) {
    let mut buf = [0; MAX_LEN];
    match write(t.0, false, &mut buf) {
        Some(text) => out.extend_from_slice(text.as_bytes()),
        None => out.extend_from_slice(strtime(t.0, SECONDS).as_bytes()),
    }
}

/// k8s-openapi's formats, used for the years the fast path does not write (before 0 or after
/// 9999, never seen on a real cluster).
const MICRO: &str = "%Y-%m-%dT%H:%M:%S%.6fZ";
const SECONDS: &str = "%Y-%m-%dT%H:%M:%SZ";

fn strtime(t: Timestamp, format: &str) -> String {
    jiff::fmt::strtime::format(format, t).unwrap_or_else(|_| t.to_string())
}

/// Writes `t` into `buf`; `None` for a year outside 0..=9999.
fn write(t: Timestamp, micros: bool, buf: &mut [u8; MAX_LEN]) -> Option<&str> {
    let dt = jiff::tz::Offset::UTC.to_datetime(t);
    let year = u32::try_from(dt.year()).ok().filter(|y| *y <= 9999)?;
    // Every other field is in range by construction of a civil datetime.
    let field = |v: i8| u32::from(v.unsigned_abs());
    digits(&mut buf[0..4], year);
    buf[4] = b'-';
    digits(&mut buf[5..7], field(dt.month()));
    buf[7] = b'-';
    digits(&mut buf[8..10], field(dt.day()));
    buf[10] = b'T';
    digits(&mut buf[11..13], field(dt.hour()));
    buf[13] = b':';
    digits(&mut buf[14..16], field(dt.minute()));
    buf[16] = b':';
    digits(&mut buf[17..19], field(dt.second()));
    let len = if micros {
        buf[19] = b'.';
        digits(
            &mut buf[20..26],
            dt.subsec_nanosecond().unsigned_abs() / 1000,
        );
        buf[26] = b'Z';
        27
    } else {
        buf[19] = b'Z';
        20
    };
    std::str::from_utf8(&buf[..len]).ok()
}

/// Writes `value` as exactly `out.len()` decimal digits, zero-padded.
fn digits(out: &mut [u8], mut value: u32) {
    for byte in out.iter_mut().rev() {
        *byte = b'0' + (value % 10) as u8;
        value /= 10;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// What k8s-openapi writes for each type.
    fn reference_micro(t: Timestamp) -> String {
        serde_json::to_value(MicroTime(t))
            .expect("encodes")
            .as_str()
            .expect("text")
            .to_owned()
    }

    fn reference_seconds(t: Timestamp) -> String {
        serde_json::to_value(Time(t))
            .expect("encodes")
            .as_str()
            .expect("text")
            .to_owned()
    }

    #[derive(serde::Serialize)]
    struct Fields {
        #[serde(serialize_with = "serialize_micro")]
        micro: MicroTime,
        #[serde(serialize_with = "serialize_time_opt")]
        time: Option<Time>,
    }

    fn check(t: Timestamp) {
        assert_eq!(micro(&MicroTime(t)), reference_micro(t), "{t:?}");
        let fields = serde_json::to_value(Fields {
            micro: MicroTime(t),
            time: Some(Time(t)),
        })
        .expect("encodes");
        assert_eq!(fields["micro"], reference_micro(t).as_str(), "{t:?}");
        assert_eq!(fields["time"], reference_seconds(t).as_str(), "{t:?}");
        let (mut pushed_micro, mut pushed_seconds) = (Vec::new(), Vec::new());
        push_micro(&mut pushed_micro, &MicroTime(t));
        push_seconds(&mut pushed_seconds, &Time(t));
        assert_eq!(pushed_micro, reference_micro(t).into_bytes(), "{t:?}");
        assert_eq!(pushed_seconds, reference_seconds(t).into_bytes(), "{t:?}");
    }

    #[test]
    fn edges_are_written_as_kubernetes_writes_them() {
        for text in [
            "2026-11-22T02:12:00Z",
            "2026-11-22T02:12:00.000001Z",
            "2026-11-22T02:12:00.999999999Z",
            "1970-01-01T00:00:00Z",
            "1969-12-31T23:59:59.5Z",
            "0000-01-01T00:00:00Z",
            "0001-02-03T04:05:06.07Z",
            "2024-02-29T23:59:59.123456789Z",
            "9999-12-30T21:59:59.999999999Z",
            "-000001-06-01T00:00:00Z",
            "-009998-01-01T00:00:00Z",
        ] {
            check(text.parse().expect("timestamp"));
        }
        check(Timestamp::MIN);
        check(Timestamp::MAX);
        assert_eq!(
            serde_json::to_value(Fields {
                micro: MicroTime(Timestamp::UNIX_EPOCH),
                time: None,
            })
            .expect("encodes")["time"],
            serde_json::Value::Null
        );
    }

    proptest! {
        #[test]
        fn any_instant_is_written_as_kubernetes_writes_it(
            seconds in Timestamp::MIN.as_second()..=Timestamp::MAX.as_second(),
            nanos in 0..1_000_000_000i32,
        ) {
            let t = Timestamp::new(seconds, nanos).unwrap_or(Timestamp::new(seconds, 0).expect("in range"));
            check(t);
        }
    }
}
