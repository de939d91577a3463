//! One module per page; each gives its routes here (one line per page module).

pub mod audit;
pub mod bulk;
pub mod export;
pub mod fleet;
pub mod records;
pub mod signin;

use axum::Router;
use std::sync::Arc;

use super::Dash;

pub fn routes() -> Router<Arc<Dash>> {
    Router::new()
        .merge(signin::routes())
        .merge(fleet::routes())
        .merge(records::routes())
        .merge(audit::routes())
}
