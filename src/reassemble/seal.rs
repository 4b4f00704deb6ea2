//! The seal of a report: one BLAKE3 digest over what a later `--resume` relies on, the
//! report's damage ranges and transfers and the bytes of the output file they describe.
//! A resume recomputes it from the report it reads and the file it continues into, and
//! refuses both when it differs: a file changed since (another file, bytes edited), or a
//! report edited (a range taken out, a length changed), is caught before anything is
//! written, whatever packets arrive later.
//!
//! What goes in, in order: for each range as the report lists it, `kind offset length`;
//! for each transfer, `id offset length end_known`; then the BLAKE3 digest of the output's
//! first `bytes.output` bytes. Reading the output back costs one pass over it when the
//! report is written and one when it is resumed, in blocks of [`BLOCK`] bytes.

/// Bytes read back at a time.
const BLOCK: usize = 1 << 20;

/// The digest being built, range by range, then transfers, then content.
#[derive(Clone)]
pub struct Seal(blake3::Hasher);

impl Default for Seal {
    fn default() -> Self {
        Seal(blake3::Hasher::new())
    }
}

impl Seal {
    pub fn range(&mut self, kind: &str, offset: u64, length: u64) {
        self.0
            .update(format!("range {kind} {offset} {length}\n").as_bytes());
    }

    pub fn transfer(&mut self, id: u16, offset: u64, length: u64, end_known: bool) {
        self.0
            .update(format!("transfer {id} {offset} {length} {end_known}\n").as_bytes());
    }

    /// The output's content digest (see [`content_digest`]), last: the seal in hex.
    pub fn finish(mut self, content: &[u8; 32]) -> String {
        self.0.update(b"content ");
        self.0.update(content);
        self.0.finalize().to_hex().to_string()
    }
}

/// The BLAKE3 digest of the first `len` bytes that `read_at(offset, buf)` reads (`false`:
/// they cannot be read back: no digest).
pub fn content_digest<E>(
    len: u64,
    mut read_at: impl FnMut(u64, &mut [u8]) -> Result<bool, E>,
) -> Result<Option<[u8; 32]>, E> {
    let mut hasher = blake3::Hasher::new();
    let mut buf = vec![0; BLOCK.min(len as usize)];
    let mut at = 0;
    while at < len {
        let n = (len - at).min(BLOCK as u64) as usize;
        if !read_at(at, &mut buf[..n])? {
            return Ok(None);
        }
        hasher.update(&buf[..n]);
        at += n as u64;
    }
    Ok(Some(*hasher.finalize().as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seal_of(ranges: &[(&str, u64, u64)], content: &[u8]) -> String {
        let mut s = Seal::default();
        for (k, o, l) in ranges {
            s.range(k, *o, *l);
        }
        s.transfer(7, 0, content.len() as u64, true);
        let digest = content_digest(content.len() as u64, |at, buf| {
            buf.copy_from_slice(&content[at as usize..at as usize + buf.len()]);
            Ok::<_, ()>(true)
        })
        .unwrap()
        .unwrap();
        s.finish(&digest)
    }

    #[test]
    fn a_changed_byte_or_range_changes_the_seal() {
        let content = vec![5u8; 3 << 20];
        let base = seal_of(&[("lost", 10, 5)], &content);
        assert_eq!(base, seal_of(&[("lost", 10, 5)], &content));
        assert_ne!(base, seal_of(&[], &content));
        let mut edited = content.clone();
        edited[(2 << 20) + 1] = 6;
        assert_ne!(base, seal_of(&[("lost", 10, 5)], &edited));
    }
}
