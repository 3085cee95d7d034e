//! Orders and their lines, membership tiers (with the default four for every existing tenant),
//! the loyalty-points ledger, tier history, and the customer's loyalty columns.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, Statement};

/// Orders, tiers, ledger, tier history.
#[derive(DeriveMigrationName)]
pub struct Migration;

/// The four tiers every tenant starts with: name, level, minimum spend (tenant currency),
/// discount in basis points (hundredths of a percent), colour.
pub const DEFAULT_TIERS: [(&str, i32, i64, i64, &str); 4] = [
    ("Bronze", 1, 0, 500, "#CD7F32"),
    ("Silver", 2, 2_000_000, 1000, "#C0C0C0"),
    ("Gold", 3, 5_000_000, 1500, "#FFD700"),
    ("Platinum", 4, 10_000_000, 2000, "#E5E4E2"),
];

fn uuid(col: &str) -> ColumnDef {
    ColumnDef::new(Alias::new(col)).uuid().not_null().take()
}
fn uuid_null(col: &str) -> ColumnDef {
    ColumnDef::new(Alias::new(col)).uuid().null().take()
}
fn big(col: &str) -> ColumnDef {
    ColumnDef::new(Alias::new(col))
        .big_integer()
        .not_null()
        .take()
}
fn text(col: &str, len: u32) -> ColumnDef {
    ColumnDef::new(Alias::new(col))
        .string_len(len)
        .not_null()
        .take()
}
fn text_null(col: &str, len: u32) -> ColumnDef {
    ColumnDef::new(Alias::new(col))
        .string_len(len)
        .null()
        .take()
}
fn instant(col: &str) -> ColumnDef {
    ColumnDef::new(Alias::new(col))
        .timestamp_with_time_zone()
        .not_null()
        .take()
}
fn json(col: &str) -> ColumnDef {
    ColumnDef::new(Alias::new(col))
        .json_binary()
        .not_null()
        .take()
}
fn pk(cols: &[&str]) -> IndexCreateStatement {
    let mut i = Index::create();
    for c in cols {
        i.col(Alias::new(*c));
    }
    i.take()
}
fn fk(
    from: &str,
    from_cols: &[&str],
    to: &str,
    to_cols: &[&str],
    cascade: bool,
) -> ForeignKeyCreateStatement {
    let mut f = ForeignKey::create();
    f.from_tbl(Alias::new(from)).to_tbl(Alias::new(to));
    for c in from_cols {
        f.from_col(Alias::new(*c));
    }
    for c in to_cols {
        f.to_col(Alias::new(*c));
    }
    if cascade {
        f.on_delete(ForeignKeyAction::Cascade);
    }
    f.take()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let t = |name: &str| Table::create().table(Alias::new(name)).take();

        manager
            .create_table(
                t("tiers")
                    .col(uuid("tenant_id"))
                    .col(uuid("id"))
                    .col(text("name", 100))
                    .col(ColumnDef::new(Alias::new("level")).integer().not_null())
                    .col(big("min_spend"))
                    .col(big("discount_bp"))
                    .col(json("benefits"))
                    .col(text_null("colour", 7))
                    .col(instant("created_at"))
                    .col(instant("updated_at"))
                    .primary_key(&mut pk(&["tenant_id", "id"]))
                    .foreign_key(&mut fk("tiers", &["tenant_id"], "tenants", &["id"], true))
                    .take(),
            )
            .await?;

        // SQLite adds one column per ALTER TABLE.
        for def in [
            uuid_null("tier_id"),
            ColumnDef::new(Alias::new("tier_since"))
                .timestamp_with_time_zone()
                .null()
                .take(),
            ColumnDef::new(Alias::new("loyalty_points"))
                .big_integer()
                .not_null()
                .default(0)
                .take(),
            ColumnDef::new(Alias::new("discount_bp"))
                .big_integer()
                .null()
                .take(),
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Alias::new("customers"))
                        .add_column(def)
                        .take(),
                )
                .await?;
        }

        manager
            .create_table(
                t("orders")
                    .col(uuid("tenant_id"))
                    .col(uuid("id"))
                    .col(uuid("customer_id"))
                    .col(text("order_ref", 100))
                    .col(instant("placed_at"))
                    .col(text("status", 16))
                    .col(text("payment_status", 16))
                    .col(instant("due_at"))
                    .col(text("currency", 3))
                    .col(big("total_amount"))
                    .col(text_null("channel", 50))
                    .col(json("metadata"))
                    .col(big("points_earned"))
                    .col(text_null("created_by", 255))
                    .col(instant("created_at"))
                    .col(instant("updated_at"))
                    .col(big("version"))
                    .primary_key(&mut pk(&["tenant_id", "id"]))
                    .foreign_key(&mut fk(
                        "orders",
                        &["tenant_id", "customer_id"],
                        "customers",
                        &["tenant_id", "id"],
                        false,
                    ))
                    .take(),
            )
            .await?;

        manager
            .create_table(
                t("order_lines")
                    .col(uuid("tenant_id"))
                    .col(uuid("order_id"))
                    .col(ColumnDef::new(Alias::new("line_no")).integer().not_null())
                    .col(text("sku", 100))
                    .col(text_null("name", 255))
                    .col(big("quantity"))
                    .col(big("unit_price"))
                    .col(big("line_total"))
                    .primary_key(&mut pk(&["tenant_id", "order_id", "line_no"]))
                    .foreign_key(&mut fk(
                        "order_lines",
                        &["tenant_id", "order_id"],
                        "orders",
                        &["tenant_id", "id"],
                        true,
                    ))
                    .take(),
            )
            .await?;

        manager
            .create_table(
                t("loyalty_ledger")
                    .col(uuid("tenant_id"))
                    .col(uuid("id"))
                    .col(uuid("customer_id"))
                    .col(text("kind", 16))
                    .col(big("points"))
                    .col(ColumnDef::new(Alias::new("reason")).text().not_null())
                    .col(uuid_null("order_id"))
                    .col(text_null("actor", 255))
                    .col(instant("created_at"))
                    .primary_key(&mut pk(&["tenant_id", "id"]))
                    .foreign_key(&mut fk(
                        "loyalty_ledger",
                        &["tenant_id", "customer_id"],
                        "customers",
                        &["tenant_id", "id"],
                        false,
                    ))
                    .take(),
            )
            .await?;

        manager
            .create_table(
                t("tier_changes")
                    .col(uuid("tenant_id"))
                    .col(uuid("id"))
                    .col(uuid("customer_id"))
                    .col(uuid_null("from_tier"))
                    .col(uuid_null("to_tier"))
                    .col(ColumnDef::new(Alias::new("reason")).text().not_null())
                    .col(text_null("actor", 255))
                    .col(instant("changed_at"))
                    .primary_key(&mut pk(&["tenant_id", "id"]))
                    .foreign_key(&mut fk(
                        "tier_changes",
                        &["tenant_id", "customer_id"],
                        "customers",
                        &["tenant_id", "id"],
                        false,
                    ))
                    .take(),
            )
            .await?;

        let db = manager.get_connection();
        for sql in [
            "CREATE UNIQUE INDEX ux_tiers_name ON tiers (tenant_id, name)",
            "CREATE UNIQUE INDEX ux_tiers_level ON tiers (tenant_id, level)",
            "CREATE UNIQUE INDEX ux_orders_ref ON orders (tenant_id, order_ref)",
            "CREATE INDEX ix_orders_customer ON orders (tenant_id, customer_id, placed_at DESC, id DESC)",
            "CREATE INDEX ix_orders_placed ON orders (tenant_id, placed_at DESC, id DESC)",
            "CREATE INDEX ix_orders_unpaid ON orders (tenant_id, due_at) WHERE payment_status = 'unpaid' AND status = 'completed'",
            "CREATE INDEX ix_ledger_customer ON loyalty_ledger (tenant_id, customer_id, id DESC)",
            "CREATE INDEX ix_tier_changes_customer ON tier_changes (tenant_id, customer_id, changed_at DESC)",
        ] {
            db.execute_unprepared(sql).await?;
        }

        // Existing tenants get the default tiers, as new ones do.
        let backend = db.get_database_backend();
        let tenants = db
            .query_all_raw(Statement::from_string(backend, "SELECT id FROM tenants"))
            .await?;
        let now = chrono_now();
        for row in tenants {
            let tenant: sea_orm_migration::sea_orm::prelude::Uuid = row.try_get_by_index(0)?;
            for (name, level, min_spend, bp, colour) in DEFAULT_TIERS {
                let insert = Query::insert()
                    .into_table(Alias::new("tiers"))
                    .columns(
                        [
                            "tenant_id",
                            "id",
                            "name",
                            "level",
                            "min_spend",
                            "discount_bp",
                            "benefits",
                            "colour",
                            "created_at",
                            "updated_at",
                        ]
                        .map(Alias::new),
                    )
                    .values_panic([
                        tenant.into(),
                        uuid::Uuid::now_v7().into(),
                        name.into(),
                        level.into(),
                        (min_spend * 10_000).into(),
                        bp.into(),
                        serde_json_empty().into(),
                        colour.into(),
                        now.into(),
                        now.into(),
                    ])
                    .take();
                db.execute(&insert).await?;
            }
        }
        Ok(())
    }
}

fn chrono_now() -> sea_orm_migration::sea_orm::prelude::DateTimeUtc {
    sea_orm_migration::sea_orm::prelude::ChronoUtc::now()
}

fn serde_json_empty() -> sea_orm_migration::sea_orm::prelude::Json {
    sea_orm_migration::sea_orm::prelude::Json::Object(Default::default())
}
