//! Export use cases: the filtered customer list as a sheet, and everything stored about one
//! customer.

use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::model::EXPORT_PAGE_SIZE;
use crate::access::{Actor, Permission};
use crate::analytics::service::CustomerAnalytics;
use crate::analytics::{AnalyticsService, PredictionOptions};
use crate::customer::{Customer, CustomerQuery, CustomerService, Page};
use crate::error::DomainError;
use crate::ids::CustomerId;
use crate::loyalty::{LedgerEntry, TierChange};
use crate::order::{Order, OrderListQuery, OrderRepository};
use crate::ports::Clock;
use crate::segment::{Segment, SegmentService};

/// Everything stored about one customer.
#[derive(Debug, Clone, PartialEq)]
pub struct CustomerData {
    /// When the document was assembled.
    pub exported_at: DateTime<Utc>,
    /// The customer record.
    pub customer: Customer,
    /// Every order, with its lines, newest first.
    pub orders: Vec<Order>,
    /// Every points ledger entry, newest first.
    pub loyalty_ledger: Vec<LedgerEntry>,
    /// Every tier change, newest first.
    pub tier_history: Vec<TierChange>,
    /// The segments the customer belongs to now.
    pub segments: Vec<Segment>,
    /// RFM scores, historical value and model predictions (default options).
    pub analytics: CustomerAnalytics,
}

/// Export use cases. Every method needs `customers.manage`.
pub struct ExportService {
    customers: Arc<CustomerService>,
    orders: Arc<dyn OrderRepository>,
    segments: Arc<SegmentService>,
    analytics: Arc<AnalyticsService>,
    clock: Arc<dyn Clock>,
}

impl ExportService {
    /// Wires the service.
    pub fn new(
        customers: Arc<CustomerService>,
        orders: Arc<dyn OrderRepository>,
        segments: Arc<SegmentService>,
        analytics: Arc<AnalyticsService>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            customers,
            orders,
            segments,
            analytics,
            clock,
        }
    }

    /// Whether the caller may export.
    ///
    /// # Errors
    /// [`DomainError::Forbidden`] without `customers.manage`.
    pub fn authorize(actor: &Actor) -> Result<(), DomainError> {
        Ok(actor.require(Permission::CustomersManage)?)
    }

    /// One page of an export of the customers `query` matches (its filters, search and sort):
    /// [`EXPORT_PAGE_SIZE`] customers after `query.after`. The caller passes the page's `next`
    /// as `after` for the following page until it is `None`.
    ///
    /// # Errors
    /// [`DomainError::Forbidden`] without `customers.manage` (or `customers.view`); as
    /// [`CustomerService::list`].
    pub async fn customers_page(
        &self,
        actor: &Actor,
        query: CustomerQuery,
    ) -> Result<Page<Customer>, DomainError> {
        Self::authorize(actor)?;
        let query = CustomerQuery {
            limit: EXPORT_PAGE_SIZE,
            offset: None,
            ..query
        };
        self.customers.list(actor, query, false).await
    }

    /// Everything stored about a live customer of the caller's tenant: the record, all orders
    /// with their lines, all ledger entries and tier changes, current segments and analytics.
    ///
    /// # Errors
    /// [`DomainError::Forbidden`] without `customers.manage` (or `customers.view`);
    /// [`DomainError::NotFound`] for a missing, deleted or another tenant's customer.
    pub async fn customer_data(
        &self,
        actor: &Actor,
        id: CustomerId,
    ) -> Result<CustomerData, DomainError> {
        Self::authorize(actor)?;
        let customer = self.customers.get(actor, id).await?;
        let tenant = actor.tenant_id;
        let now = self.clock.now();

        let mut orders = Vec::new();
        let mut after = None;
        loop {
            let query = OrderListQuery {
                customer_id: Some(id),
                after,
                limit: EXPORT_PAGE_SIZE + 1,
                now,
                ..OrderListQuery::default()
            };
            let mut page = self.orders.list_orders(tenant, &query).await?;
            let more = page.len() > EXPORT_PAGE_SIZE as usize;
            page.truncate(EXPORT_PAGE_SIZE as usize);
            after = page.last().map(|o| (o.placed_at, o.id));
            orders.extend(page);
            if !more {
                break;
            }
        }

        let mut loyalty_ledger: Vec<LedgerEntry> = Vec::new();
        loop {
            let before = loyalty_ledger.last().map(|e| e.id);
            let mut page = self
                .orders
                .ledger(tenant, id, before, EXPORT_PAGE_SIZE + 1)
                .await?;
            let more = page.len() > EXPORT_PAGE_SIZE as usize;
            page.truncate(EXPORT_PAGE_SIZE as usize);
            loyalty_ledger.extend(page);
            if !more {
                break;
            }
        }

        // The tier history has no cursor; it is short (a change per tier reached or assigned).
        let tier_history = self.orders.tier_history(tenant, id, u32::MAX).await?;
        let segments = self.segments.of_customer(actor, id).await?;
        let analytics = self
            .analytics
            .customer_analytics(actor, id, PredictionOptions::default())
            .await?;
        Ok(CustomerData {
            exported_at: now,
            customer,
            orders,
            loyalty_ledger,
            tier_history,
            segments,
            analytics,
        })
    }
}

#[cfg(test)]
mod tests {
    use chrono::{Duration, TimeZone};
    use uuid::Uuid;

    use super::*;
    use crate::analytics::ports::MockAnalyticsRepository;
    use crate::customer::{
        CustomerInput, LoyaltyStatus, MockCustomerRepository, PurchaseStats, ValidationContext,
        customer_code,
    };
    use crate::export::ExportFormat;
    use crate::ids::{LedgerEntryId, OrderId, TenantId, UserId};
    use crate::job::MockJobRepository;
    use crate::loyalty::LedgerKind;
    use crate::order::{MockOrderRepository, OrderStatus, PaymentStatus};
    use crate::ports::{MockClock, MockIdGenerator};
    use crate::segment::MockSegmentRepository;
    use crate::tenant::MockTenantRepository;
    use crate::values::{Amount, CountryCode, CurrencyCode};

    const TENANT: TenantId = TenantId(Uuid::from_u128(1));
    const CUSTOMER: CustomerId = CustomerId(Uuid::from_u128(2));
    const ORDERS: u128 = 450;
    const ENTRIES: u128 = 401;

    fn actor(role: &str) -> Actor {
        Actor::new(TENANT, UserId::parse("user-1").unwrap(), [role], [])
    }

    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap()
    }

    fn customer() -> Customer {
        let ctx = ValidationContext {
            default_country: CountryCode::parse("ID"),
            default_currency: CurrencyCode::parse("IDR").unwrap(),
            today: t0().date_naive(),
        };
        let input = CustomerInput {
            name: Some("Budi".into()),
            email: Some("budi@example.com".into()),
            ..Default::default()
        };
        Customer {
            id: CUSTOMER,
            tenant_id: TENANT,
            customer_number: 1,
            customer_code: customer_code(2026, 1),
            profile: input.validate(&ctx).unwrap(),
            stats: PurchaseStats::default(),
            loyalty: LoyaltyStatus::default(),
            rfm: None,
            created_by: None,
            updated_by: None,
            created_at: t0(),
            updated_at: t0(),
            deleted_at: None,
            version: 1,
        }
    }

    /// Order `i` is placed `i` hours after t0; several share an hour to test the id tie-break.
    fn order(i: u128) -> Order {
        let placed_at = t0() + Duration::hours((i / 3) as i64);
        Order {
            id: OrderId(Uuid::from_u128(1000 + i)),
            tenant_id: TENANT,
            customer_id: CUSTOMER,
            order_ref: format!("INV-{i}"),
            placed_at,
            status: OrderStatus::Completed,
            payment_status: PaymentStatus::Paid,
            due_at: placed_at,
            currency: CurrencyCode::parse("IDR").unwrap(),
            total_amount: Amount::from_scaled(10_000),
            lines: Vec::new(),
            channel: None,
            metadata: Default::default(),
            points_earned: 0,
            created_by: None,
            created_at: placed_at,
            updated_at: placed_at,
            version: 1,
        }
    }

    fn entry(i: u128) -> LedgerEntry {
        LedgerEntry {
            id: LedgerEntryId(Uuid::from_u128(5000 + i)),
            tenant_id: TENANT,
            customer_id: CUSTOMER,
            kind: LedgerKind::Adjustment,
            points: 1,
            reason: format!("entry {i}"),
            order_id: None,
            actor: None,
            created_at: t0(),
        }
    }

    /// A service over a customer with [`ORDERS`] orders and [`ENTRIES`] ledger entries, whose
    /// repositories answer pages as the real ones do (newest first, after the given position).
    fn service() -> ExportService {
        let mut clock = MockClock::new();
        clock.expect_now().returning(t0);
        let mut ids = MockIdGenerator::new();
        ids.expect_new_id().returning(Uuid::now_v7);
        let clock: Arc<dyn Clock> = Arc::new(clock);
        let ids: Arc<dyn crate::ports::IdGenerator> = Arc::new(ids);
        let mut customers = MockCustomerRepository::new();
        customers
            .expect_find()
            .returning(|tenant, id, _| Ok((tenant == TENANT && id == CUSTOMER).then(customer)));
        let customers: Arc<dyn crate::customer::CustomerRepository> = Arc::new(customers);
        let mut orders = MockOrderRepository::new();
        orders.expect_list_orders().returning(|_, q| {
            let mut all: Vec<Order> = (0..ORDERS).map(order).collect();
            all.sort_by_key(|o| std::cmp::Reverse((o.placed_at, o.id)));
            Ok(all
                .into_iter()
                .filter(|o| q.customer_id == Some(o.customer_id))
                .filter(|o| q.after.is_none_or(|a| (o.placed_at, o.id) < a))
                .take(q.limit as usize)
                .collect())
        });
        orders.expect_ledger().returning(|_, _, before, limit| {
            Ok((0..ENTRIES)
                .rev()
                .map(entry)
                .filter(|e| before.is_none_or(|b| e.id.0 < b.0))
                .take(limit as usize)
                .collect())
        });
        orders.expect_tier_history().returning(|_, _, _| Ok(vec![]));
        let mut segments = MockSegmentRepository::new();
        segments.expect_list().returning(|_| Ok(vec![]));
        let mut analytics = MockAnalyticsRepository::new();
        analytics.expect_find_model().returning(|_| Ok(None));
        ExportService::new(
            Arc::new(CustomerService::new(
                customers.clone(),
                Arc::new(MockTenantRepository::new()),
                clock.clone(),
                ids.clone(),
            )),
            Arc::new(orders),
            Arc::new(SegmentService::new(
                Arc::new(segments),
                customers.clone(),
                clock.clone(),
                ids.clone(),
            )),
            Arc::new(AnalyticsService::new(
                Arc::new(analytics),
                Arc::new(MockJobRepository::new()),
                customers,
                Arc::new(MockTenantRepository::new()),
                clock.clone(),
                ids,
            )),
            clock,
        )
    }

    #[tokio::test]
    async fn a_customer_data_export_walks_every_page() {
        let data = service()
            .customer_data(&actor("admin"), CUSTOMER)
            .await
            .unwrap();
        assert_eq!(data.customer.id, CUSTOMER);
        assert_eq!(data.exported_at, t0());
        let mut expected: Vec<Order> = (0..ORDERS).map(order).collect();
        expected.sort_by_key(|o| std::cmp::Reverse((o.placed_at, o.id)));
        assert_eq!(data.orders, expected);
        let expected: Vec<LedgerEntry> = (0..ENTRIES).rev().map(entry).collect();
        assert_eq!(data.loyalty_ledger, expected);
        assert!(data.segments.is_empty() && data.tier_history.is_empty());
    }

    #[tokio::test]
    async fn exports_need_manage_and_the_tenants_customer() {
        let s = service();
        for role in ["viewer", "sales", "manager"] {
            assert_eq!(
                s.customer_data(&actor(role), CUSTOMER).await,
                Err(DomainError::Forbidden(Permission::CustomersManage)),
                "{role}"
            );
        }
        let stranger = Actor::new(
            TenantId(Uuid::from_u128(9)),
            UserId::parse("user-2").unwrap(),
            ["admin"],
            [],
        );
        assert_eq!(
            s.customer_data(&stranger, CUSTOMER).await,
            Err(DomainError::NotFound { entity: "customer" })
        );
        assert_eq!(
            ExportService::authorize(&actor("manager")),
            Err(DomainError::Forbidden(Permission::CustomersManage))
        );
        assert_eq!(ExportService::authorize(&actor("admin")), Ok(()));
        assert_eq!(ExportFormat::Csv.content_type(), "text/csv; charset=utf-8");
        assert_eq!("xlsx".parse::<ExportFormat>(), Ok(ExportFormat::Xlsx));
    }
}
