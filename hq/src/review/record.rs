//! One record as the record page shows it: its fields under their labels, its images (only
//! those the record references, only to users whose provinces include it).

use uuid::Uuid;

use enroll_sync::protocol::sha_from_hex;
use enroll_sync::record::{Enrollment, RecordDoc};

use super::Scope;
use crate::storage::RecordRow;
use crate::{Hq, HqError};

/// A record the user may see, read from HQ's copy of its document.
#[derive(Debug, Clone)]
pub struct RecordView {
    pub row: RecordRow,
    pub record: Enrollment,
}

impl RecordView {
    /// The applicant's fields and the capture details, labelled, in document order; the
    /// biometrics and the review have their own sections.
    pub fn fields(&self) -> Vec<(String, String, String)> {
        let v = serde_json::to_value(&self.record).unwrap_or_default();
        let mut flat = Vec::new();
        for section in [
            "enrollment_no",
            "application",
            "applicant",
            "relatives",
            "contact",
            "capture",
        ] {
            if let Some(child) = v.get(section) {
                walk(child, &mut section.to_owned(), &mut flat);
            }
        }
        flat.into_iter()
            .map(|(path, value)| {
                let (vi, en) = super::labels::label(&path);
                (vi, en, value)
            })
            .collect()
    }
}

fn walk(v: &serde_json::Value, path: &mut String, out: &mut Vec<(String, String)>) {
    use serde_json::Value as J;
    let mut child = |key: &str, c: &J, path: &mut String| {
        let len = path.len();
        path.push('.');
        path.push_str(key);
        walk(c, path, out);
        path.truncate(len);
    };
    match v {
        J::Object(m) => m.iter().for_each(|(k, c)| child(k, c, path)),
        J::Array(a) => a
            .iter()
            .enumerate()
            .for_each(|(i, c)| child(&i.to_string(), c, path)),
        J::Null => {}
        J::String(s) if s.is_empty() => {}
        J::String(s) => out.push((path.clone(), s.clone())),
        other => out.push((path.clone(), other.to_string())),
    }
}

/// The image kinds kiosks send, told by their first bytes.
fn image_type(b: &[u8]) -> Option<&'static str> {
    if b.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Some("image/jpeg")
    } else if b.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some("image/png")
    } else if b.len() > 12 && &b[..4] == b"RIFF" && &b[8..12] == b"WEBP" {
        Some("image/webp")
    } else {
        None
    }
}

impl Hq {
    /// Record `id` if the user's provinces include it (otherwise: no such record).
    pub fn record_view(&self, id: &Uuid, scope: &Scope) -> Result<RecordView, HqError> {
        let rec = self
            .session()?
            .records(&[*id])?
            .pop()
            .filter(|r| scope.allows(r.p.province_code.as_deref()))
            .ok_or_else(|| HqError::NoSuchRecord(id.to_string()))?;
        let bad = |e: enroll_sync::record::DocError| HqError::BadStoredRecord(*id, e.to_string());
        let record = RecordDoc::load(&rec.doc, self.actor.clone())
            .map_err(bad)?
            .read()
            .map_err(bad)?;
        Ok(RecordView {
            row: RecordRow {
                id: rec.id,
                kiosk_id: rec.kiosk_id,
                p: rec.p,
            },
            record,
        })
    }

    /// An image the record references (photo, finger, exception proof), with its media type;
    /// `None` when the record does not reference it, HQ does not hold it whole, or it is not an
    /// image.
    pub fn record_image(
        &self,
        id: &Uuid,
        sha_hex: &str,
        scope: &Scope,
    ) -> Result<Option<(Vec<u8>, &'static str)>, HqError> {
        let Some(sha) = sha_from_hex(sha_hex) else {
            return Ok(None);
        };
        let rec = self
            .session()?
            .records(&[*id])?
            .pop()
            .filter(|r| scope.allows(r.p.province_code.as_deref()))
            .ok_or_else(|| HqError::NoSuchRecord(id.to_string()))?;
        if !rec.blobs.contains(&sha) {
            return Ok(None);
        }
        Ok(self
            .blobs()
            .get(&sha)?
            .and_then(|b| image_type(&b).map(|t| (b, t))))
    }
}

#[cfg(test)]
mod tests {
    use super::image_type;

    #[test]
    fn images_are_told_by_their_first_bytes() {
        assert_eq!(image_type(&[0xFF, 0xD8, 0xFF, 0xE0]), Some("image/jpeg"));
        assert_eq!(image_type(b"\x89PNG\r\n\x1a\n...."), Some("image/png"));
        assert_eq!(image_type(b"RIFF\0\0\0\0WEBPVP8 "), Some("image/webp"));
        assert_eq!(image_type(b"<svg onload=alert(1)>"), None);
    }
}
