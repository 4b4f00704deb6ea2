//! The sender's JPEG hook: a baseline JPEG goes out indexed ([`crate::jpeg::packets`]),
//! each packet's piece of the file behind a sub-header that lets it decode alone; any
//! other input goes out as it is.
//!
//! A JPEG is indexed when the user says it is one (`MediaType::Jpeg` or
//! `MediaType::JpegIndexed`) or when it starts with a JPEG's magic and no type was given.
//! Indexing walks the whole scan, so the file is held in memory (at most
//! [`MAX_JPEG`]); the transfer then is the indexed bytes. A sniffed JPEG that cannot be
//! indexed (progressive, arithmetic-coded, damaged, too large) goes out as plain bytes
//! with a warning saying why; one the user named as a JPEG is an error, unless it is no
//! JPEG at all (then it goes out as plain bytes labelled as the user said, with the
//! warning).

use crate::descriptor::MediaType;
use crate::io::Input;
use crate::jpeg::{self, JpegError};
use std::io::{self, Read};

/// The largest JPEG indexed: it is held in memory.
pub const MAX_JPEG: usize = 64 << 20;

/// What to send.
pub enum Prepared {
    /// The input as it is.
    AsIs(Input),
    /// The bytes to send, held: an indexed JPEG's transfer, or a JPEG read whole that
    /// could not be indexed.
    Held(Vec<u8>),
}

/// The input to send, its media type for the descriptors, and why a JPEG was not indexed.
pub struct Preparation {
    pub prepared: Prepared,
    pub media_type: Option<MediaType>,
    pub warning: Option<JpegError>,
}

/// Why the input cannot be sent as asked.
#[derive(Debug, thiserror::Error)]
pub enum PrepareError {
    #[error("reading input: {0}")]
    Read(io::Error),
    #[error(transparent)]
    Jpeg(JpegError),
    #[error("a JPEG of more than {} MiB cannot be indexed", MAX_JPEG >> 20)]
    TooLarge,
}

/// Decide how to send `input`: `asked` is the type the user gave, `payload_len` the payload
/// size, `described` true when descriptors are sent (an indexed JPEG needs them: they say
/// what the packets hold).
pub fn prepare(
    input: Input,
    asked: Option<MediaType>,
    payload_len: usize,
    described: bool,
) -> Result<Preparation, PrepareError> {
    let named = matches!(asked, Some(MediaType::Jpeg | MediaType::JpegIndexed));
    let as_is = |prepared| Preparation {
        prepared,
        media_type: asked,
        warning: None,
    };
    if !described || !(named || asked.is_none()) {
        return Ok(as_is(Prepared::AsIs(input)));
    }
    let file = match input {
        Input::Mapped(map) => {
            if !named && MediaType::sniff(&map) != MediaType::Jpeg {
                return Ok(as_is(Prepared::AsIs(Input::Mapped(map))));
            }
            if map.len() > MAX_JPEG {
                return too_large(named, Input::Mapped(map));
            }
            map.to_vec()
        }
        Input::Stream(mut reader) => {
            let mut head = Vec::new();
            (&mut reader)
                .take(3)
                .read_to_end(&mut head)
                .map_err(PrepareError::Read)?;
            if !named && MediaType::sniff(&head) != MediaType::Jpeg {
                let back: Box<dyn Read> = Box::new(io::Cursor::new(head).chain(reader));
                return Ok(as_is(Prepared::AsIs(Input::Stream(back))));
            }
            (&mut reader)
                .take((MAX_JPEG + 1 - head.len()) as u64)
                .read_to_end(&mut head)
                .map_err(PrepareError::Read)?;
            if head.len() > MAX_JPEG {
                let back: Box<dyn Read> = Box::new(io::Cursor::new(head).chain(reader));
                return too_large(named, Input::Stream(back));
            }
            head
        }
    };
    match jpeg::index(&file, payload_len) {
        Ok(indexed) => Ok(Preparation {
            prepared: Prepared::Held(indexed),
            media_type: Some(MediaType::JpegIndexed),
            warning: None,
        }),
        // Named a JPEG but not one at all: the user's label stands, as for any type.
        Err(e) if named && e != JpegError::NotJpeg => Err(PrepareError::Jpeg(e)),
        Err(e) => Ok(Preparation {
            prepared: Prepared::Held(file),
            media_type: Some(MediaType::Jpeg),
            warning: Some(e),
        }),
    }
}

fn too_large(named: bool, input: Input) -> Result<Preparation, PrepareError> {
    if named {
        return Err(PrepareError::TooLarge);
    }
    Ok(Preparation {
        prepared: Prepared::AsIs(input),
        media_type: Some(MediaType::Jpeg),
        warning: None,
    })
}
