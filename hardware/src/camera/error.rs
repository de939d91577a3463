//! Camera errors, each with a plain message in Vietnamese and English.

use thiserror::Error;

#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum CameraError {
    #[error("no camera found")]
    NoCamera,
    #[error("camera {0} not found")]
    NotFound(String),
    #[error("camera {device} offers no MJPEG or YUYV mode (offers: {offered})")]
    NoUsableMode { device: String, offered: String },
    #[error("cannot open camera {device}: {detail}")]
    Open { device: String, detail: String },
    #[error("camera {device} was disconnected: {detail}")]
    DeviceLost { device: String, detail: String },
    #[error("cannot decode a camera frame: {0}")]
    Decode(String),
    #[error("cannot list cameras: {0}")]
    Query(String),
    #[error("simulated camera: {0}")]
    Simulator(String),
    #[error("the capture thread stopped unexpectedly")]
    ThreadGone,
    #[error("no frame arrived within {0} ms")]
    Timeout(u64),
    #[error("invalid camera choice {0:?}: use a number, \"sim\" or \"sim:<fault>\"")]
    BadSelector(String),
}

impl CameraError {
    /// Message for the operator, in Vietnamese.
    pub fn message_vi(&self) -> String {
        match self {
            CameraError::NoCamera => {
                "Không tìm thấy camera nào. Hãy cắm camera USB rồi thử lại.".into()
            }
            CameraError::NotFound(d) => format!("Không tìm thấy camera {d}."),
            CameraError::NoUsableMode { device, offered } => format!(
                "Camera {device} không có chế độ MJPEG hoặc YUYV (chỉ có: {offered}). Hãy dùng camera khác."
            ),
            CameraError::Open { device, detail } => {
                format!("Không mở được camera {device} ({detail}). Hãy rút ra cắm lại.")
            }
            CameraError::DeviceLost { device, .. } => format!(
                "Mất kết nối camera {device}. Hãy kiểm tra dây cáp; máy sẽ tự kết nối lại."
            ),
            CameraError::Decode(d) => format!("Không đọc được ảnh từ camera ({d})."),
            CameraError::Query(d) => format!("Không liệt kê được camera ({d})."),
            CameraError::Simulator(d) => format!("Camera giả lập lỗi: {d}."),
            CameraError::ThreadGone => "Luồng thu hình đã dừng bất thường.".into(),
            CameraError::Timeout(ms) => format!("Không nhận được hình nào trong {ms} ms."),
            CameraError::BadSelector(s) => format!(
                "Lựa chọn camera {s:?} không hợp lệ: dùng số thứ tự, \"sim\" hoặc \"sim:<lỗi>\"."
            ),
        }
    }

    /// Message for the operator, in English.
    pub fn message_en(&self) -> String {
        match self {
            CameraError::NoCamera => "No camera found. Plug in a USB camera and try again.".into(),
            CameraError::DeviceLost { device, .. } => format!(
                "Camera {device} was disconnected. Check the cable; the kiosk reconnects by itself."
            ),
            CameraError::Open { device, detail } => {
                format!("Cannot open camera {device} ({detail}). Unplug it and plug it back in.")
            }
            other => {
                let mut s = other.to_string();
                if let Some(first) = s.get(0..1) {
                    let upper = first.to_uppercase();
                    s.replace_range(0..1, &upper);
                }
                s.push('.');
                s
            }
        }
    }
}
