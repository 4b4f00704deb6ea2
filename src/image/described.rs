//! What a transfer descriptor's head says about the image the transfer starts with: where
//! its pixels start, their [`Geometry`], and one line for people.
//!
//! The descriptor ([`crate::wire::descriptor`]) only carries the head, the first bytes of the
//! transfer; reading them as a PNM, BMP or Y4M header is this layer's concern, so that
//! `wire` knows no image format. A head that does not parse says nothing: every answer is
//! an `Option`, and no head, however forged, makes one panic.

use super::{from_head, Geometry};
use crate::bmp::BmpHeader;
use crate::pnm;
use crate::wire::descriptor::{Descriptor, MediaType};

/// The image a descriptor's head describes. Bring it into scope (`use
/// pktools::image::DescribedImage`) to ask a [`Descriptor`].
pub trait DescribedImage {
    /// Where the pixels start, when the head is a PNM or BMP header: the length of the PNM
    /// header, or the BMP's pixel data offset.
    fn raster_offset(&self) -> Option<u64>;

    /// Where the pixels lie, for the byte-addressable PNM, BMP and Y4M layouts (see
    /// [`crate::image`]); `None` for other types.
    fn image_geometry(&self) -> Option<Geometry>;

    /// The image's type and size as a line for people, for PNM, BMP and Y4M.
    fn geometry(&self) -> Option<String>;

    /// One line for people: name, type, length, FEC, and the image's size when the head
    /// says.
    fn summary(&self, total_len: Option<u64>) -> String;
}

impl DescribedImage for Descriptor {
    fn raster_offset(&self) -> Option<u64> {
        match self.media_type {
            MediaType::Pnm => pnm::Header::parse(&self.head)
                .ok()
                .map(|(_, len)| len as u64),
            MediaType::Bmp => BmpHeader::parse(&self.head)
                .ok()
                .map(|h| u64::from(h.pixel_offset)),
            _ => None,
        }
    }

    fn image_geometry(&self) -> Option<Geometry> {
        match self.media_type {
            MediaType::Pnm | MediaType::Bmp | MediaType::Y4m => from_head(&self.head).ok(),
            _ => None,
        }
    }

    fn geometry(&self) -> Option<String> {
        match self.media_type {
            MediaType::Pnm => {
                let (h, _) = pnm::Header::parse(&self.head).ok()?;
                Some(format!(
                    "{} {}x{} maxval {}",
                    h.kind, h.width, h.height, h.maxval
                ))
            }
            MediaType::Bmp => {
                let h = BmpHeader::parse(&self.head).ok()?;
                Some(format!(
                    "BMP {}x{} {} bits per pixel{}",
                    h.width,
                    h.height,
                    h.bits_per_pixel,
                    if h.top_down { " top-down" } else { "" }
                ))
            }
            MediaType::Y4m => Some(from_head(&self.head).ok()?.description),
            _ => None,
        }
    }

    fn summary(&self, total_len: Option<u64>) -> String {
        let mut s = String::new();
        if !self.name.is_empty() {
            s.push_str(&format!("\"{}\", ", self.name.escape_debug()));
        }
        s.push_str(self.media_type.name());
        match total_len {
            Some(n) => s.push_str(&format!(", {n} bytes")),
            None => s.push_str(", length unknown"),
        }
        s.push_str(&format!(", packets of {} bytes", self.payload_len));
        if let Some((k, m)) = self.fec {
            s.push_str(&format!(", FEC {k}+{m}"));
        }
        if let Some(geometry) = self.geometry() {
            s.push_str(&format!(", {geometry}"));
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Descriptor {
        Descriptor {
            media_type: MediaType::Pnm,
            payload_len: 1024,
            fec: Some((8, 2)),
            name: "photo.ppm".into(),
            head: b"P6\n640 480\n255\n".to_vec(),
            interleave_span: None,
            carousel: false,
            fountain: None,
        }
    }

    fn bmp(head: Vec<u8>) -> Descriptor {
        Descriptor {
            media_type: MediaType::sniff(&head),
            head,
            ..sample()
        }
    }

    #[test]
    fn pnm_geometry_and_summary() {
        let d = sample();
        assert_eq!(d.geometry().as_deref(), Some("P6 640x480 maxval 255"));
        assert_eq!(d.raster_offset(), Some(15));
        assert_eq!(
            d.summary(Some(921_615)),
            "\"photo.ppm\", pnm, 921615 bytes, packets of 1024 bytes, FEC 8+2, \
             P6 640x480 maxval 255"
        );
    }

    #[test]
    fn bmp_geometry_from_the_head() {
        let d = bmp(crate::bmp::header::our_headers(
            3,
            2,
            crate::bmp::Depth::TwentyFour,
            true,
        ));
        assert_eq!(d.media_type, MediaType::Bmp);
        assert_eq!(
            d.geometry().as_deref(),
            Some("BMP 3x2 24 bits per pixel top-down")
        );
        assert_eq!(d.raster_offset(), Some(54));
        assert_eq!(d.image_geometry().map(|g| g.grids[0].stride), Some(12));
    }

    #[test]
    fn a_forged_bmp_head_gives_no_geometry() {
        // Once shown as "BMP -1x1 65535 bits per pixel".
        let d = bmp(crate::bmp::header::test_headers(-1, 1, 65535));
        assert_eq!(d.media_type, MediaType::Bmp);
        assert_eq!(d.geometry(), None);
        assert_eq!(d.raster_offset(), None);
        assert_eq!(d.image_geometry(), None);
    }

    #[test]
    fn a_raw_transfer_has_no_image() {
        let d = Descriptor {
            media_type: MediaType::Raw,
            name: String::new(),
            fec: None,
            ..sample()
        };
        assert_eq!((d.geometry(), d.raster_offset()), (None, None));
        assert_eq!(d.image_geometry(), None);
        assert_eq!(
            d.summary(None),
            "raw, length unknown, packets of 1024 bytes"
        );
    }
}
