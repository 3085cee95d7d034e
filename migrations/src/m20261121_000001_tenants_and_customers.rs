//! Tenants, per-tenant counters, customers, customer tags and idempotency keys.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Tenants {
    Table,
    Id,
    Name,
    DefaultCountry,
    DefaultCurrency,
    Settings,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum TenantCounters {
    Table,
    TenantId,
    Name,
    Value,
}

#[derive(DeriveIden)]
enum Customers {
    Table,
    TenantId,
    Id,
    CustomerNumber,
    CustomerCode,
    Name,
    DisplayName,
    Email,
    Phone,
    MobilePhone,
    CustomerType,
    Company,
    CompanyLegalName,
    TaxId,
    BusinessLicense,
    JobTitle,
    Website,
    Industry,
    CompanySize,
    AnnualRevenue,
    Status,
    Stage,
    Source,
    AssignedTo,
    Currency,
    Country,
    Language,
    Timezone,
    BirthDate,
    Gender,
    CreditLimit,
    PaymentTermsDays,
    Tags,
    Metadata,
    Notes,
    InternalNotes,
    IsVip,
    IsBlacklisted,
    BlacklistReason,
    ReferredBy,
    AcquisitionCost,
    ExternalRef,
    TotalOrders,
    TotalSpent,
    AverageOrderValue,
    FirstOrderAt,
    LastOrderAt,
    LastContactAt,
    NextFollowUpAt,
    CreatedBy,
    UpdatedBy,
    CreatedAt,
    UpdatedAt,
    DeletedAt,
    Version,
}

#[derive(DeriveIden)]
enum CustomerTags {
    Table,
    TenantId,
    CustomerId,
    Tag,
}

#[derive(DeriveIden)]
enum IdempotencyKeys {
    Table,
    TenantId,
    Key,
    Fingerprint,
    CustomerId,
    CreatedAt,
}

fn text(col: impl IntoIden, len: u32) -> ColumnDef {
    ColumnDef::new(col).string_len(len).null().take()
}

fn money(col: impl IntoIden) -> ColumnDef {
    ColumnDef::new(col).big_integer().null().take()
}

fn instant(col: impl IntoIden) -> ColumnDef {
    ColumnDef::new(col).timestamp_with_time_zone().null().take()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Tenants::Table)
                    .col(ColumnDef::new(Tenants::Id).uuid().not_null().primary_key())
                    .col(ColumnDef::new(Tenants::Name).string_len(255).not_null())
                    .col(text(Tenants::DefaultCountry, 2))
                    .col(
                        ColumnDef::new(Tenants::DefaultCurrency)
                            .string_len(3)
                            .not_null(),
                    )
                    .col(ColumnDef::new(Tenants::Settings).json_binary().not_null())
                    .col(
                        ColumnDef::new(Tenants::CreatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(Tenants::UpdatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(TenantCounters::Table)
                    .col(ColumnDef::new(TenantCounters::TenantId).uuid().not_null())
                    .col(
                        ColumnDef::new(TenantCounters::Name)
                            .string_len(64)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(TenantCounters::Value)
                            .big_integer()
                            .not_null(),
                    )
                    .primary_key(
                        Index::create()
                            .col(TenantCounters::TenantId)
                            .col(TenantCounters::Name),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(TenantCounters::Table, TenantCounters::TenantId)
                            .to(Tenants::Table, Tenants::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Customers::Table)
                    .col(ColumnDef::new(Customers::TenantId).uuid().not_null())
                    .col(ColumnDef::new(Customers::Id).uuid().not_null())
                    .col(
                        ColumnDef::new(Customers::CustomerNumber)
                            .big_integer()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(Customers::CustomerCode)
                            .string_len(32)
                            .not_null(),
                    )
                    .col(ColumnDef::new(Customers::Name).string_len(255).not_null())
                    .col(text(Customers::DisplayName, 255))
                    .col(text(Customers::Email, 254))
                    .col(text(Customers::Phone, 20))
                    .col(text(Customers::MobilePhone, 20))
                    .col(
                        ColumnDef::new(Customers::CustomerType)
                            .string_len(16)
                            .not_null(),
                    )
                    .col(text(Customers::Company, 255))
                    .col(text(Customers::CompanyLegalName, 255))
                    .col(text(Customers::TaxId, 64))
                    .col(text(Customers::BusinessLicense, 64))
                    .col(text(Customers::JobTitle, 255))
                    .col(ColumnDef::new(Customers::Website).text().null())
                    .col(text(Customers::Industry, 100))
                    .col(text(Customers::CompanySize, 50))
                    .col(money(Customers::AnnualRevenue))
                    .col(ColumnDef::new(Customers::Status).string_len(16).not_null())
                    .col(ColumnDef::new(Customers::Stage).string_len(16).not_null())
                    .col(text(Customers::Source, 32))
                    .col(text(Customers::AssignedTo, 255))
                    .col(ColumnDef::new(Customers::Currency).string_len(3).not_null())
                    .col(text(Customers::Country, 2))
                    .col(text(Customers::Language, 16))
                    .col(text(Customers::Timezone, 64))
                    .col(ColumnDef::new(Customers::BirthDate).date().null())
                    .col(text(Customers::Gender, 32))
                    .col(
                        ColumnDef::new(Customers::CreditLimit)
                            .big_integer()
                            .not_null()
                            .default(0),
                    )
                    .col(
                        ColumnDef::new(Customers::PaymentTermsDays)
                            .integer()
                            .not_null()
                            .default(0),
                    )
                    .col(ColumnDef::new(Customers::Tags).json_binary().not_null())
                    .col(ColumnDef::new(Customers::Metadata).json_binary().not_null())
                    .col(ColumnDef::new(Customers::Notes).text().null())
                    .col(ColumnDef::new(Customers::InternalNotes).text().null())
                    .col(
                        ColumnDef::new(Customers::IsVip)
                            .boolean()
                            .not_null()
                            .default(false),
                    )
                    .col(
                        ColumnDef::new(Customers::IsBlacklisted)
                            .boolean()
                            .not_null()
                            .default(false),
                    )
                    .col(ColumnDef::new(Customers::BlacklistReason).text().null())
                    .col(ColumnDef::new(Customers::ReferredBy).uuid().null())
                    .col(money(Customers::AcquisitionCost))
                    .col(text(Customers::ExternalRef, 255))
                    .col(
                        ColumnDef::new(Customers::TotalOrders)
                            .big_integer()
                            .not_null()
                            .default(0),
                    )
                    .col(
                        ColumnDef::new(Customers::TotalSpent)
                            .big_integer()
                            .not_null()
                            .default(0),
                    )
                    .col(
                        ColumnDef::new(Customers::AverageOrderValue)
                            .big_integer()
                            .not_null()
                            .default(0),
                    )
                    .col(instant(Customers::FirstOrderAt))
                    .col(instant(Customers::LastOrderAt))
                    .col(instant(Customers::LastContactAt))
                    .col(instant(Customers::NextFollowUpAt))
                    .col(text(Customers::CreatedBy, 255))
                    .col(text(Customers::UpdatedBy, 255))
                    .col(
                        ColumnDef::new(Customers::CreatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(Customers::UpdatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(instant(Customers::DeletedAt))
                    .col(ColumnDef::new(Customers::Version).big_integer().not_null())
                    .primary_key(Index::create().col(Customers::TenantId).col(Customers::Id))
                    .foreign_key(
                        ForeignKey::create()
                            .from(Customers::Table, Customers::TenantId)
                            .to(Tenants::Table, Tenants::Id),
                    )
                    // A referrer is always a customer of the same tenant.
                    .foreign_key(
                        ForeignKey::create()
                            .from(
                                Customers::Table,
                                (Customers::TenantId, Customers::ReferredBy),
                            )
                            .to(Customers::Table, (Customers::TenantId, Customers::Id)),
                    )
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(CustomerTags::Table)
                    .col(ColumnDef::new(CustomerTags::TenantId).uuid().not_null())
                    .col(ColumnDef::new(CustomerTags::CustomerId).uuid().not_null())
                    .col(ColumnDef::new(CustomerTags::Tag).string_len(50).not_null())
                    .primary_key(
                        Index::create()
                            .col(CustomerTags::TenantId)
                            .col(CustomerTags::CustomerId)
                            .col(CustomerTags::Tag),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(
                                CustomerTags::Table,
                                (CustomerTags::TenantId, CustomerTags::CustomerId),
                            )
                            .to(Customers::Table, (Customers::TenantId, Customers::Id))
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(IdempotencyKeys::Table)
                    .col(ColumnDef::new(IdempotencyKeys::TenantId).uuid().not_null())
                    .col(
                        ColumnDef::new(IdempotencyKeys::Key)
                            .string_len(255)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(IdempotencyKeys::Fingerprint)
                            .string_len(128)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(IdempotencyKeys::CustomerId)
                            .uuid()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(IdempotencyKeys::CreatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .primary_key(
                        Index::create()
                            .col(IdempotencyKeys::TenantId)
                            .col(IdempotencyKeys::Key),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(IdempotencyKeys::Table, IdempotencyKeys::TenantId)
                            .to(Tenants::Table, Tenants::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;

        // Partial indexes are the same SQL on both backends; sea-query's builder has no WHERE.
        let db = manager.get_connection();
        for sql in [
            "CREATE UNIQUE INDEX ux_customers_number ON customers (tenant_id, customer_number)",
            "CREATE UNIQUE INDEX ux_customers_code ON customers (tenant_id, customer_code)",
            "CREATE UNIQUE INDEX ux_customers_email ON customers (tenant_id, email) WHERE deleted_at IS NULL AND email IS NOT NULL",
            "CREATE UNIQUE INDEX ux_customers_phone ON customers (tenant_id, phone) WHERE deleted_at IS NULL AND phone IS NOT NULL",
            "CREATE UNIQUE INDEX ux_customers_mobile_phone ON customers (tenant_id, mobile_phone) WHERE deleted_at IS NULL AND mobile_phone IS NOT NULL",
            "CREATE UNIQUE INDEX ux_customers_external_ref ON customers (tenant_id, external_ref) WHERE deleted_at IS NULL AND external_ref IS NOT NULL",
            "CREATE INDEX ix_customers_live_created ON customers (tenant_id, created_at DESC, id DESC) WHERE deleted_at IS NULL",
            "CREATE INDEX ix_customer_tags_tag ON customer_tags (tenant_id, tag, customer_id)",
        ] {
            db.execute_unprepared(sql).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            "idempotency_keys",
            "customer_tags",
            "customers",
            "tenant_counters",
            "tenants",
        ] {
            manager
                .drop_table(Table::drop().table(Alias::new(table)).to_owned())
                .await?;
        }
        Ok(())
    }
}
