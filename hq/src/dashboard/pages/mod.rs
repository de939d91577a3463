//! One module per page; each gives its routes here (one line per page module).

pub mod audit;
pub mod bulk;
pub mod duplicates;
pub mod export;
pub mod fleet;
pub mod media;
pub mod quality;
pub mod record;
pub mod records;
pub mod sessions;
pub mod signin;

use axum::Router;
use std::sync::Arc;

use super::Dash;

pub fn routes() -> Router<Arc<Dash>> {
    Router::new()
        .merge(signin::routes())
        .merge(fleet::routes())
        .merge(records::routes())
        .merge(record::routes())
        .merge(duplicates::routes())
        .merge(quality::routes())
        .merge(sessions::routes())
        .merge(audit::routes())
}
