//! The tour's report: each step, the screen's PNG, what was seen, how long it took.

use std::fmt::Write as _;
use std::path::Path;

use chrono::{DateTime, Utc};

use super::{io_at, TourError};

#[derive(Debug, Clone)]
pub struct Step {
    /// Short name; the PNG is `NN-name.png`.
    pub name: String,
    pub png: String,
    /// What the screen showed, in Vietnamese (as the operator saw it) and English.
    pub seen_vi: String,
    pub seen_en: String,
    /// Time from the previous screenshot to this one.
    pub ms: u128,
}

#[derive(Debug, Clone)]
pub struct Report {
    pub started: DateTime<Utc>,
    pub finished: DateTime<Utc>,
    pub steps: Vec<Step>,
    /// The enrollment number on the receipt.
    pub receipt: String,
    pub hq_url: String,
    /// The record's status at HQ after the sync; `None`: it did not arrive.
    pub hq_status: Option<String>,
    pub total_ms: u128,
}

impl Report {
    pub fn new(started: DateTime<Utc>) -> Report {
        Report {
            started,
            finished: started,
            steps: Vec::new(),
            receipt: String::new(),
            hq_url: String::new(),
            hq_status: None,
            total_ms: 0,
        }
    }

    pub fn reached_hq(&self) -> bool {
        self.hq_status.is_some()
    }

    /// One line for the terminal, Vietnamese then English.
    pub fn verdict(&self) -> String {
        match &self.hq_status {
            Some(s) => format!(
                "Hồ sơ {} đã đến trung tâm (trạng thái: {s}) / The record reached HQ (status: {s}).",
                self.receipt
            ),
            None => format!(
                "Hồ sơ {} chưa đến trung tâm / The record did not reach HQ.",
                self.receipt
            ),
        }
    }

    pub fn markdown(&self) -> String {
        let mut m = String::new();
        let _ = writeln!(m, "# Chuyến tham quan ki-ốt / Kiosk tour\n");
        let _ = writeln!(
            m,
            "Bắt đầu / started {} UTC · {} bước / steps · {:.1} s\n",
            self.started.format("%Y-%m-%d %H:%M:%S"),
            self.steps.len(),
            self.total_ms as f64 / 1000.0
        );
        let _ = writeln!(
            m,
            "Giao diện thật trên trình vẽ phần mềm của Slint, máy ảnh mô phỏng, máy quét R307 \
             mô phỏng trên cổng nối tiếp giả, trung tâm `enroll-hq` thật tại {}. / The real UI \
             on Slint's software renderer, the simulated camera, the R307 simulator on a \
             pseudo-terminal, the real `enroll-hq` at {}.\n",
            self.hq_url, self.hq_url
        );
        let _ = writeln!(
            m,
            "| # | Bước / Step | Màn hình / Screen | Thấy gì / What was seen | ms |"
        );
        let _ = writeln!(m, "|---|---|---|---|---:|");
        for (i, s) in self.steps.iter().enumerate() {
            let _ = writeln!(
                m,
                "| {} | {} | [{}]({}) | {} | {} |",
                i + 1,
                s.name,
                s.png,
                s.png,
                format!("{} / {}", s.seen_vi, s.seen_en)
                    .replace('|', "/")
                    .replace('\n', " "),
                s.ms
            );
        }
        let _ = writeln!(m, "\n**{}**", self.verdict());
        m
    }

    pub fn write(&self, path: &Path) -> Result<(), TourError> {
        std::fs::write(path, self.markdown()).map_err(io_at(path))
    }
}
