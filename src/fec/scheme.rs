//! The coding scheme a sender chooses (K data packets protected by M parity packets) and
//! the shard geometry both halves of the code derive from it.

use std::fmt;
use std::str::FromStr;

/// A group has at most this many packets, data and parity: the group fields of the parity
/// header are one byte each. (The GF(2^16) code itself would allow far more.)
pub const MAX_GROUP_PACKETS: usize = 256;

/// A coding scheme: `data` packets per group (K) protected by `parity` packets (M).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scheme {
    pub data: u8,
    pub parity: u8,
}

/// Why a scheme cannot be coded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FecError {
    #[error("expected K+M such as 8+2, found \"{0}\"")]
    Syntax(String),
    #[error(
        "K and M must each be 1 to 255 with K+M at most {MAX_GROUP_PACKETS} \
         (the group fields of a parity header are one byte each), found {0}+{1}"
    )]
    OutOfRange(usize, usize),
}

impl FromStr for Scheme {
    type Err = FecError;

    fn from_str(text: &str) -> Result<Scheme, FecError> {
        let syntax = || FecError::Syntax(text.to_string());
        let (k, m) = text.split_once('+').ok_or_else(syntax)?;
        let k: usize = k.trim().parse().map_err(|_| syntax())?;
        let m: usize = m.trim().parse().map_err(|_| syntax())?;
        Scheme::new(k, m)
    }
}

impl Scheme {
    pub fn new(data: usize, parity: usize) -> Result<Scheme, FecError> {
        if data == 0 || parity == 0 || data > 255 || parity > 255 || data + parity > 256 {
            return Err(FecError::OutOfRange(data, parity));
        }
        debug_assert!(reed_solomon_simd::ReedSolomonEncoder::supports(
            data, parity
        ));
        Ok(Scheme {
            data: data as u8,
            parity: parity as u8,
        })
    }

    pub(crate) fn k(self) -> usize {
        usize::from(self.data)
    }

    pub(crate) fn m(self) -> usize {
        usize::from(self.parity)
    }
}

impl fmt::Display for Scheme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}+{}", self.data, self.parity)
    }
}

/// The shard length for data payloads of `data_len` bytes: the code works on 16-bit
/// symbols, so an odd size is padded by one zero byte (and the parity says so, FLAG_ODD).
pub fn shard_len(data_len: usize) -> usize {
    data_len + (data_len & 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scheme(k: usize, m: usize) -> Scheme {
        Scheme::new(k, m).unwrap()
    }

    #[test]
    fn schemes_parse_and_respect_the_header_fields() {
        assert_eq!("8+2".parse(), Ok(scheme(8, 2)));
        assert_eq!("255+1".parse(), Ok(scheme(255, 1)));
        assert_eq!("1+255".parse(), Ok(scheme(1, 255)));
        assert!("0+2".parse::<Scheme>().is_err());
        assert!("8+0".parse::<Scheme>().is_err());
        assert!("200+57".parse::<Scheme>().is_err());
        assert!("8".parse::<Scheme>().is_err());
        assert!("a+b".parse::<Scheme>().is_err());
    }

    #[test]
    fn every_scheme_is_one_the_coder_supports() {
        for k in 1..=255 {
            for m in 1..=(256 - k) {
                assert!(
                    reed_solomon_simd::ReedSolomonEncoder::supports(k, m),
                    "{k}+{m}"
                );
            }
        }
    }

    #[test]
    fn shards_are_whole_symbols() {
        assert_eq!(shard_len(0), 0);
        assert_eq!(shard_len(1), 2);
        assert_eq!(shard_len(1024), 1024);
        assert_eq!(shard_len(65475), 65476);
    }
}
