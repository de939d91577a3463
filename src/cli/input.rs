//! Reading records from JSON files: every failure says what and where.

use enroll_sync::record::Enrollment;
use std::path::Path;

use super::CliError;

/// One record or an array of them. Parses everything before anything is written.
pub fn read_records(path: &Path) -> Result<Vec<Enrollment>, CliError> {
    let shown = path.display();
    let bytes = std::fs::read(path)
        .map_err(|e| CliError::Input(format!("không đọc được / cannot read {shown}: {e}")))?;
    let text = std::str::from_utf8(&bytes).map_err(|e| {
        CliError::Input(format!(
            "{shown}: không phải văn bản UTF-8 / is not UTF-8 text (invalid byte at offset {})",
            e.valid_up_to()
        ))
    })?;
    let value: serde_json::Value = serde_json::from_str(text).map_err(|e| {
        CliError::Input(format!(
            "{shown}: JSON không hợp lệ / invalid JSON at line {}, column {}: {e}",
            e.line(),
            e.column()
        ))
    })?;
    let (items, many) = match value {
        serde_json::Value::Array(items) => (items, true),
        one @ serde_json::Value::Object(_) => (vec![one], false),
        _ => return Err(CliError::Input(format!("{shown}: cần một hồ sơ hoặc một mảng hồ sơ / expected a record object or an array of records"))),
    };
    items
        .into_iter()
        .enumerate()
        .map(|(i, item)| {
            serde_path_to_error::deserialize(item).map_err(|e| {
                let at = if many {
                    format!("record {i}, ")
                } else {
                    String::new()
                };
                CliError::Input(format!("{shown}: {at}field `{}`: {}", e.path(), e.inner()))
            })
        })
        .collect()
}
