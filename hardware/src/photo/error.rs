//! Photo pipeline errors, with messages in Vietnamese and English.

use thiserror::Error;

#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum PhotoError {
    #[error("cannot read picture {path}: {detail}")]
    Read { path: String, detail: String },
    #[error("cannot write {path}: {detail}")]
    Write { path: String, detail: String },
    #[error("picture is {width}x{height}, too small for the guide (needs at least {min_width}x{min_height})")]
    TooSmall {
        width: u32,
        height: u32,
        min_width: u32,
        min_height: u32,
    },
    #[error("cannot fit the photo in {max_bytes} bytes (smallest: {smallest} bytes at quality {quality})")]
    OverBudget {
        max_bytes: usize,
        smallest: usize,
        quality: u8,
    },
    #[error("JPEG encoding failed: {0}")]
    Encode(String),
    #[error("the encoded JPEG carries metadata segments: {0}")]
    Metadata(String),
}

impl PhotoError {
    pub fn message_vi(&self) -> String {
        match self {
            PhotoError::Read { path, detail } => format!("Không đọc được ảnh {path} ({detail})."),
            PhotoError::Write { path, detail } => format!("Không ghi được tệp {path} ({detail})."),
            PhotoError::TooSmall {
                width,
                height,
                min_width,
                min_height,
            } => format!(
                "Ảnh {width}x{height} quá nhỏ; cần ít nhất {min_width}x{min_height} điểm ảnh."
            ),
            PhotoError::OverBudget { max_bytes, .. } => {
                format!("Không nén được ảnh xuống dưới {max_bytes} byte.")
            }
            PhotoError::Encode(d) => format!("Lỗi nén ảnh JPEG ({d})."),
            PhotoError::Metadata(d) => format!("Ảnh JPEG còn chứa siêu dữ liệu ({d})."),
        }
    }

    pub fn message_en(&self) -> String {
        let mut s = self.to_string();
        if let Some(first) = s.get(0..1) {
            let upper = first.to_uppercase();
            s.replace_range(0..1, &upper);
        }
        s.push('.');
        s
    }
}
