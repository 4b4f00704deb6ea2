//! Quantities as people write them: sizes (`64k`, `1.5M`), rates (`1%`, `1e-5`), byte
//! patterns in hex (`ff00ff`), and byte counts for people to read (`1.5 MiB`).
//!
//! One grammar each, shared by the programs' arguments and the library's own parsers
//! (`channel`'s reorder and block options, `pixel`'s colours). Errors say what was expected
//! and what was found, and name no command-line flag.

/// A quantity that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UnitError {
    #[error("expected a size such as 1024, 64k, 1M or 2G, found \"{0}\"")]
    Size(String),
    #[error("size \"{0}\" is too large")]
    SizeTooLarge(String),
    #[error("expected a rate such as 0.01, 1% or 1e-5, found \"{0}\"")]
    Rate(String),
    #[error("rate \"{0}\" is outside 0..1 (0%..100%)")]
    RateOutOfRange(String),
    #[error("expected a byte (0-255) or hex bytes such as ff00ff, found \"{0}\"")]
    Pattern(String),
}

/// Parse a byte count with an optional suffix: `1024`, `64k`, `1.5M`, `2G`, `64KiB`.
/// Suffixes are binary (k = 1024), as in `head -c` and ffmpeg's `-bufsize`.
pub fn parse_size(text: &str) -> Result<u64, UnitError> {
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (number, suffix) = t.split_at(split);
    let bad = || UnitError::Size(text.to_string());
    let multiplier: u64 = match suffix.to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        "t" | "tb" | "tib" => 1 << 40,
        _ => return Err(bad()),
    };
    if number.is_empty() {
        return Err(bad());
    }
    if let Ok(n) = number.parse::<u64>() {
        return n
            .checked_mul(multiplier)
            .ok_or_else(|| UnitError::SizeTooLarge(text.to_string()));
    }
    let value: f64 = number.parse().map_err(|_| bad())?;
    let bytes = value * multiplier as f64;
    if !bytes.is_finite() || bytes < 0.0 || bytes > u64::MAX as f64 {
        return Err(UnitError::SizeTooLarge(text.to_string()));
    }
    Ok(bytes.round() as u64)
}

/// Parse a probability: `0.01`, `1%`, `1e-5`. Outside 0..=1 is an error.
pub fn parse_rate(text: &str) -> Result<f64, UnitError> {
    let t = text.trim();
    let (number, scale) = match t.strip_suffix('%') {
        Some(n) => (n, 100.0),
        None => (t, 1.0),
    };
    let value: f64 = number
        .trim()
        .parse()
        .map_err(|_| UnitError::Rate(text.to_string()))?;
    let rate = value / scale;
    if !(0.0..=1.0).contains(&rate) {
        return Err(UnitError::RateOutOfRange(text.to_string()));
    }
    Ok(rate)
}

/// Parse a fill pattern given as hex digits (`ff00ff`, `0x00`) or a decimal byte (`255`).
/// Two hex digits per byte; a lone decimal number 0..=255 is one byte.
pub fn parse_hex_pattern(text: &str) -> Result<Vec<u8>, UnitError> {
    let t = text.trim();
    let bad = || UnitError::Pattern(text.to_string());
    if let Some(hex) = t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        return decode_hex(hex).ok_or_else(bad);
    }
    if t.len() <= 3 && !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()) {
        return t.parse::<u8>().map(|b| vec![b]).map_err(|_| bad());
    }
    decode_hex(t).ok_or_else(bad)
}

/// The longest hex pattern, in bytes: a fill pattern repeats, it is not data.
pub const MAX_PATTERN_LEN: usize = 4096;

/// Hex digits, two per byte, to bytes: the one hex grammar (fill patterns, colours).
/// `None` for an odd count, a non-hex digit, nothing, or more than [`MAX_PATTERN_LEN`] bytes.
pub fn decode_hex(hex: &str) -> Option<Vec<u8>> {
    if hex.is_empty()
        || hex.len() % 2 != 0
        || hex.len() > 2 * MAX_PATTERN_LEN
        || !hex.bytes().all(|b| b.is_ascii_hexdigit())
    {
        return None;
    }
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).ok())
        .collect()
}

/// Format a byte count for people: `1.5 MiB`.
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each of `good` parses to its value, and each of `bad` is refused.
    fn parses<T: PartialEq + std::fmt::Debug>(
        parse: fn(&str) -> Result<T, UnitError>,
        good: &[(&str, T)],
        bad: &[&str],
    ) {
        for (text, value) in good {
            assert_eq!(&parse(text).unwrap(), value, "{text:?}");
        }
        for text in bad {
            assert!(parse(text).is_err(), "{text:?}");
        }
    }

    #[test]
    fn sizes_take_binary_suffixes() {
        let good = [
            ("1024", 1024),
            ("64k", 65536),
            ("64KiB", 65536),
            ("1.5M", 1572864),
            ("2G", 2 << 30),
        ];
        let bad = ["", "k", "12q", "-1", "99999999999999999999T"];
        parses(parse_size, &good, &bad);
    }

    #[test]
    fn rates_accept_fraction_percent_and_exponent() {
        let good = [
            ("0.01", 0.01),
            ("1%", 0.01),
            ("1e-5", 1e-5),
            ("0", 0.0),
            ("100%", 1.0),
        ];
        parses(parse_rate, &good, &["-0.1", "1.5", "101%", "abc", "NaN"]);
    }

    #[test]
    fn hex_patterns_and_decimal_bytes() {
        let good = [
            ("ff00ff", vec![0xff, 0, 0xff]),
            ("0x7f", vec![0x7f]),
            ("0", vec![0]),
            ("255", vec![255]),
        ];
        // from_str_radix alone would take a sign as part of a byte: "+f+f".
        parses(parse_hex_pattern, &good, &["256", "fff", "zz", "", "+f+f"]);
    }

    #[test]
    fn human_bytes_picks_a_unit() {
        assert_eq!(human_bytes(10), "10 B");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(3 << 30), "3.0 GiB");
    }
}
