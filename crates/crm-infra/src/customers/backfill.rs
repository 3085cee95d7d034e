//! The search documents of customers written before search existed.

use crm_domain::RepositoryError;
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QuerySelect};

use super::mapping::{terms_column, to_domain};
use crate::db::Database;
use crate::entity::customer;
use crate::error::map_db_err;

/// Fills the search documents of customers written before search existed (empty
/// `search_text`), 500 at a time. Idempotent; [`Database::backfill_search_documents`] runs it.
pub(crate) async fn backfill_search(db: &Database) -> Result<u64, RepositoryError> {
    let mut done = 0;
    loop {
        // Cross-tenant by nature: every tenant's customers.
        let txn = db.system_tx().await?;
        let rows = customer::Entity::find()
            .filter(customer::Column::SearchText.eq(""))
            .limit(500)
            .all(&txn)
            .await
            .map_err(map_db_err)?;
        if rows.is_empty() {
            return Ok(done);
        }
        for m in rows {
            let c = to_domain(m)?;
            let doc = crm_domain::customer::search::search_document(&c.profile, &c.customer_code);
            customer::Entity::update_many()
                .col_expr(customer::Column::SearchText, Expr::value(doc.text))
                .col_expr(customer::Column::SearchPhones, Expr::value(doc.phones))
                .col_expr(
                    customer::Column::SearchTerms,
                    Expr::value(terms_column(doc.terms)),
                )
                .filter(customer::Column::TenantId.eq(c.tenant_id.0))
                .filter(customer::Column::Id.eq(c.id.0))
                .exec(&txn)
                .await
                .map_err(map_db_err)?;
            done += 1;
        }
        txn.commit().await.map_err(map_db_err)?;
    }
}
