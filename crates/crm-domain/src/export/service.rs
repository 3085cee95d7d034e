//! Export use cases: the filtered customer list as a sheet, and everything stored about one
//! customer.

use std::io::Read;
use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::model::{EXPORT_PAGE_SIZE, ExportFormat};
use super::ports::{ExportSink, SheetWriters};
use crate::access::{Actor, Permission};
use crate::address::{Address, AddressService};
use crate::analytics::service::CustomerAnalytics;
use crate::analytics::{AnalyticsService, PredictionOptions};
use crate::contact::{Contact, ContactService, ContactSummary};
use crate::customer::{Customer, CustomerQuery, CustomerService, Page};
use crate::error::DomainError;
use crate::ids::CustomerId;
use crate::loyalty::{LedgerEntry, TierChange};
use crate::order::{Order, OrderListQuery, OrderRepository};
use crate::ports::Clock;
use crate::privacy::{
    Consent, ConsentEvent, ConsentHistoryQuery, ConsentPurpose, PrivacyService, PurposeState,
};
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
    /// The current state of each consent purpose.
    pub consents: Vec<PurposeState>,
    /// Every recorded consent grant and withdrawal, newest first by `at`.
    pub consent_history: Vec<ConsentEvent>,
    /// Every contact person of the customer, oldest first.
    pub contacts: Vec<Contact>,
    /// Every address of the customer, oldest first (empty when the service was built without
    /// [`ExportService::with_addresses`]).
    pub addresses: Vec<Address>,
}

/// A customer's row of a list export: the record, its current consents (one per purpose
/// that has any; empty when the sheet has no consent column) and its default billing and
/// shipping addresses (empty when the sheet has no address column).
#[derive(Debug, Clone, Copy)]
pub struct CustomerRow<'a> {
    /// The customer.
    pub customer: &'a Customer,
    /// Its current consents.
    pub consents: &'a [Consent],
    /// Its primary contact (`None` also when the sheet has no contact column).
    pub primary_contact: Option<&'a ContactSummary>,
    /// Its default `billing` and `shipping` addresses.
    pub addresses: &'a [Address],
}

impl CustomerRow<'_> {
    /// The cell of a primary-contact column (`primary_contact_name`, `primary_contact_email`,
    /// `primary_contact_phone`): the value, empty when the customer has no contacts or the
    /// contact no such value; `None` when `column` is not one of them.
    pub fn contact_cell(&self, column: &str) -> Option<String> {
        let c = self.primary_contact;
        let text = |v: Option<&str>| v.unwrap_or_default().to_owned();
        match column {
            "primary_contact_name" => Some(text(c.map(|c| c.name.as_str()))),
            "primary_contact_email" => Some(text(c.and_then(|c| c.email.as_deref()))),
            "primary_contact_phone" => Some(text(c.and_then(|c| c.phone.as_deref()))),
            _ => None,
        }
    }

    /// The cell of an export-only consent column (`consent_marketing_email`, ...): the
    /// purpose's current status (`granted`, `withdrawn`), empty when none is recorded; `None`
    /// when `column` is not a consent column.
    pub fn consent_cell(&self, column: &str) -> Option<String> {
        let purpose = ConsentPurpose::from_export_column(column)?;
        Some(
            self.consents
                .iter()
                .find(|c| c.purpose == purpose)
                .map(|c| c.status.as_str().to_owned())
                .unwrap_or_default(),
        )
    }

    /// The cell of an export-only address column (`billing_city`, ...; see
    /// [`ADDRESS_COLUMNS`](super::ADDRESS_COLUMNS)); `None` when `column` is not one.
    pub fn address_cell(&self, column: &str) -> Option<String> {
        super::address_cell(column, self.addresses)
    }
}

/// What a customer list export writes: the file format, the header row and each customer's
/// row (one cell per header; the adapter decides how a customer reads, e.g. as its API shows
/// it).
pub struct CustomerSheet<'a> {
    /// CSV or XLSX.
    pub format: ExportFormat,
    /// The header row.
    pub headers: &'a [&'a str],
    /// A customer's cells, in the order of `headers`.
    pub cells: &'a (dyn Fn(&CustomerRow<'_>) -> Result<Vec<String>, DomainError> + Sync),
}

/// Export use cases. Every method needs `customers.manage`.
pub struct ExportService {
    customers: Arc<CustomerService>,
    orders: Arc<dyn OrderRepository>,
    segments: Arc<SegmentService>,
    analytics: Arc<AnalyticsService>,
    privacy: Arc<PrivacyService>,
    contacts: Arc<ContactService>,
    clock: Arc<dyn Clock>,
    addresses: Option<Arc<AddressService>>,
}

impl ExportService {
    /// Wires the service.
    pub fn new(
        customers: Arc<CustomerService>,
        orders: Arc<dyn OrderRepository>,
        segments: Arc<SegmentService>,
        analytics: Arc<AnalyticsService>,
        privacy: Arc<PrivacyService>,
        contacts: Arc<ContactService>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            customers,
            orders,
            segments,
            analytics,
            privacy,
            contacts,
            clock,
            addresses: None,
        }
    }

    /// Gives the list export the customers' default addresses, for its address columns
    /// ([`ADDRESS_COLUMNS`](super::ADDRESS_COLUMNS)); without it they are empty.
    #[must_use]
    pub fn with_addresses(mut self, addresses: Arc<AddressService>) -> Self {
        self.addresses = Some(addresses);
        self
    }

    /// Whether the caller may export.
    ///
    /// # Errors
    /// [`DomainError::Forbidden`] without `customers.manage`.
    #[tracing::instrument(name = "ExportService::authorize", skip_all, fields(tenant_id = %actor.tenant_id, actor = %actor.user_id))]
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
    #[tracing::instrument(name = "ExportService::customers_page", skip_all, fields(tenant_id = %actor.tenant_id, actor = %actor.user_id))]
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

    /// Writes the customers `query` matches (its filters, search and sort; its page and
    /// limit are ignored) as a `sheet.format` file opened from `sheets`: the header, then every
    /// customer, read in keyset pages of [`EXPORT_PAGE_SIZE`] so the set is never held (with
    /// the page's current consents, one read per page, when a header is a consent column). After
    /// each page the bytes ready (a CSV's rows) go to `sink`; the rest of the file (for XLSX
    /// the whole workbook) is returned as a reader once every page is written.
    ///
    /// # Errors
    /// As [`ExportService::customers_page`]; [`DomainError::Validation`] on `format` when an
    /// XLSX file would have more rows than a worksheet holds; [`DomainError::Internal`] when the
    /// file cannot be written or `sink` takes no more bytes; an error of `sheet.cells`.
    #[tracing::instrument(name = "ExportService::write_customers", skip_all, fields(tenant_id = %actor.tenant_id, actor = %actor.user_id))]
    pub async fn write_customers(
        &self,
        actor: &Actor,
        query: CustomerQuery,
        sheets: &dyn SheetWriters,
        sheet: &CustomerSheet<'_>,
        sink: &mut dyn ExportSink,
    ) -> Result<Box<dyn Read + Send>, DomainError> {
        let mut page = self.customers_page(actor, query.clone()).await?;
        let mut writer = sheets.open(sheet.format)?;
        writer.write_header(sheet.headers)?;
        let with_consents = sheet
            .headers
            .iter()
            .any(|h| ConsentPurpose::from_export_column(h).is_some());
        let with_contacts = sheet
            .headers
            .iter()
            .any(|h| h.starts_with("primary_contact_"));
        let address_reader = self
            .addresses
            .as_ref()
            .filter(|_| sheet.headers.iter().any(|h| super::is_address_column(h)));
        loop {
            let contacts = if with_contacts {
                let ids: Vec<_> = page.items.iter().map(|c| c.id).collect();
                self.contacts.primaries(actor, &ids).await?
            } else {
                Default::default()
            };
            let consents = if with_consents {
                let ids = page.items.iter().map(|c| c.id).collect();
                self.privacy.consents_of(actor, ids).await?
            } else {
                Default::default()
            };
            let mut addresses: std::collections::HashMap<CustomerId, Vec<Address>> =
                Default::default();
            if let Some(reader) = address_reader {
                let ids: Vec<CustomerId> = page.items.iter().map(|c| c.id).collect();
                for a in reader.defaults_of(actor, &ids).await? {
                    addresses.entry(a.customer_id).or_default().push(a);
                }
            }
            for customer in &page.items {
                let row = CustomerRow {
                    customer,
                    consents: consents.get(&customer.id).map_or(&[], Vec::as_slice),
                    primary_contact: contacts.get(&customer.id),
                    addresses: addresses.get(&customer.id).map_or(&[], Vec::as_slice),
                };
                writer.write_row(&(sheet.cells)(&row)?)?;
            }
            let ready = writer.take_ready()?;
            if !ready.is_empty() {
                sink.send(ready).await?;
            }
            let Some(after) = page.next else {
                break;
            };
            let next = CustomerQuery {
                after: Some(after),
                ..query.clone()
            };
            page = self.customers_page(actor, next).await?;
        }
        Ok(writer.finish()?)
    }

    /// Everything stored about a live customer of the caller's tenant: the record, all orders
    /// with their lines, all ledger entries and tier changes, current segments and analytics,
    /// the current consents and their whole history.
    ///
    /// # Errors
    /// [`DomainError::Forbidden`] without `customers.manage` (or `customers.view`);
    /// [`DomainError::NotFound`] for a missing, deleted or another tenant's customer.
    #[tracing::instrument(name = "ExportService::customer_data", skip_all, fields(tenant_id = %actor.tenant_id, actor = %actor.user_id, customer_id = %id))]
    pub async fn customer_data(
        &self,
        actor: &Actor,
        id: CustomerId,
    ) -> Result<CustomerData, DomainError> {
        Self::authorize(actor)?;
        let customer = self.customers.get(actor, id).await?;
        let visibility = self.customers.visibility(actor).await?;
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
            let rows = self.orders.list_orders(tenant, &visibility, &query).await?;
            let page = crate::page::Page::from_probe(rows, EXPORT_PAGE_SIZE, Order::position);
            orders.extend(page.items);
            after = page.next;
            if after.is_none() {
                break;
            }
        }

        let mut loyalty_ledger: Vec<LedgerEntry> = Vec::new();
        let mut before = None;
        loop {
            let rows = self
                .orders
                .ledger(tenant, id, before, EXPORT_PAGE_SIZE + 1)
                .await?;
            let page = crate::page::Page::from_probe(rows, EXPORT_PAGE_SIZE, |e| e.id);
            loyalty_ledger.extend(page.items);
            before = page.next;
            if before.is_none() {
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
        let consents = self.privacy.consents(actor, id).await?;
        let mut consent_history = Vec::new();
        let mut after = None;
        loop {
            let query = ConsentHistoryQuery {
                purpose: None,
                after,
                limit: EXPORT_PAGE_SIZE,
            };
            let page = self.privacy.consent_history(actor, id, query).await?;
            consent_history.extend(page.items);
            after = page.next;
            if after.is_none() {
                break;
            }
        }
        let contacts = self.contacts.list(actor, id).await?;
        let addresses = match &self.addresses {
            Some(service) => service.for_export(actor, id).await?,
            None => Vec::new(),
        };
        Ok(CustomerData {
            contacts,
            addresses,
            exported_at: now,
            customer,
            orders,
            loyalty_ledger,
            tier_history,
            segments,
            analytics,
            consents,
            consent_history,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use chrono::{Duration, TimeZone};
    use uuid::Uuid;

    use super::*;
    use crate::analytics::ports::MockAnalyticsRepository;
    use crate::customer::MockCustomerRepository;
    use crate::export::{
        ExportFormat, MockExportSink, MockSheetWriter, MockSheetWriters, SheetError,
    };
    use crate::ids::{LedgerEntryId, OrderId, TenantId, UserId};
    use crate::job::MockJobRepository;
    use crate::loyalty::LedgerKind;
    use crate::order::{MockOrderRepository, OrderStatus, PaymentStatus};
    use crate::privacy::{ConsentSource, ConsentStatus, MockPrivacyRepository};
    use crate::segment::MockSegmentRepository;
    use crate::tenant::MockTenantRepository;
    use crate::testing::{self, TENANT, actor, clock, ids};
    use crate::values::{Amount, CurrencyCode};

    const CUSTOMER: CustomerId = CustomerId(Uuid::from_u128(2));
    const ORDERS: u128 = 450;
    const ENTRIES: u128 = 401;
    const CONSENT_EVENTS: i64 = 230;

    /// Consent event `i`, `i` minutes after t0.
    fn consent_event(i: i64) -> ConsentEvent {
        ConsentEvent {
            id: crate::ids::ConsentEventId(Uuid::from_u128(9000 + i as u128)),
            tenant_id: TENANT,
            customer_id: CUSTOMER,
            purpose: ConsentPurpose::MarketingSms,
            status: if i % 2 == 0 {
                ConsentStatus::Granted
            } else {
                ConsentStatus::Withdrawn
            },
            at: t0() + Duration::minutes(i),
            source: ConsentSource::parse("pos").unwrap(),
            recorded_by: None,
            recorded_at: t0(),
        }
    }

    /// A granted SMS consent of listed customer `i`.
    fn sms_consent(i: u128) -> Consent {
        Consent::from(&ConsentEvent {
            customer_id: CustomerId(Uuid::from_u128(100 + i)),
            status: ConsentStatus::Granted,
            ..consent_event(0)
        })
    }

    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap()
    }

    fn customer() -> Customer {
        testing::customer(CUSTOMER, t0())
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
        let mut customers = MockCustomerRepository::new();
        customers
            .expect_find()
            .returning(|tenant, id, _| Ok((tenant == TENANT && id == CUSTOMER).then(customer)));
        service_over(customers)
    }

    /// The service of [`service`] over these customers.
    fn service_over(customers: MockCustomerRepository) -> ExportService {
        let clock: Arc<dyn Clock> = Arc::new(clock(t0));
        let ids: Arc<dyn crate::ports::IdGenerator> = Arc::new(ids());
        let customers: Arc<dyn crate::customer::CustomerRepository> = Arc::new(customers);
        let customers_for_contacts = customers.clone();
        // Every customer has one contact, Sari.
        let mut contacts = crate::contact::MockContactRepository::new();
        contacts.expect_list().returning(|tenant, customer| {
            Ok(vec![crate::contact::Contact {
                id: crate::ContactId(uuid::Uuid::from_u128(900)),
                tenant_id: tenant,
                customer_id: customer,
                details: crate::contact::ContactInput {
                    name: Some("Sari".into()),
                    ..Default::default()
                }
                .validate("", None)
                .unwrap()
                .0,
                is_primary: true,
                version: 1,
                created_by: None,
                updated_by: None,
                created_at: t0(),
                updated_at: t0(),
            }])
        });
        let mut orders = MockOrderRepository::new();
        orders.expect_list_orders().returning(|_, _, q| {
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
        let mut privacy = MockPrivacyRepository::new();
        privacy.expect_consents().returning(|_, _| Ok(vec![]));
        privacy.expect_consent_history().returning(|_, _, q| {
            Ok((0..CONSENT_EVENTS)
                .rev()
                .map(consent_event)
                .filter(|e| q.after.is_none_or(|a| (e.at, e.id) < (a.at, a.id)))
                .take(q.limit as usize)
                .collect())
        });
        // Listed customers with an even number granted SMS marketing.
        privacy
            .expect_consents_of()
            .withf(|_, ids| ids.len() <= EXPORT_PAGE_SIZE as usize)
            .returning(|_, ids| {
                Ok(ids
                    .into_iter()
                    .filter(|id| id.0.as_u128() % 2 == 0)
                    .map(|id| (id, sms_consent(id.0.as_u128() - 100)))
                    .collect())
            });
        let privacy = Arc::new(PrivacyService::new(
            Arc::new(privacy),
            customers.clone(),
            Arc::new(crate::tenant::MockTenantRepository::new()),
            clock.clone(),
            ids.clone(),
        ));
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
                Arc::new(MockTenantRepository::new()),
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
            privacy,
            Arc::new(crate::contact::ContactService::new(
                Arc::new(contacts),
                customers_for_contacts,
                Arc::new(crate::testing::tenants(t0)),
                clock.clone(),
                Arc::new(crate::testing::ids()),
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
        assert_eq!(data.contacts.len(), 1);
        assert_eq!(data.contacts[0].details.name, "Sari");
        let mut expected: Vec<Order> = (0..ORDERS).map(order).collect();
        expected.sort_by_key(|o| std::cmp::Reverse((o.placed_at, o.id)));
        assert_eq!(data.orders, expected);
        let expected: Vec<LedgerEntry> = (0..ENTRIES).rev().map(entry).collect();
        assert_eq!(data.loyalty_ledger, expected);
        assert!(data.segments.is_empty() && data.tier_history.is_empty());
        let expected: Vec<ConsentEvent> = (0..CONSENT_EVENTS).rev().map(consent_event).collect();
        assert_eq!(data.consent_history, expected);
        assert_eq!(data.consents.len(), ConsentPurpose::ALL.len());
    }

    /// Customers of a list export: more than a page, newest first.
    const LISTED: u128 = EXPORT_PAGE_SIZE as u128 + 50;

    /// Customer `i` of the list, created `i` seconds before t0.
    fn listed(i: u128) -> Customer {
        let mut c = customer();
        c.id = CustomerId(Uuid::from_u128(100 + i));
        c.profile.name = format!("C{i}");
        c.created_at = t0() - Duration::seconds(i as i64);
        c
    }

    /// A repository listing [`LISTED`] customers as the real one does: `limit` rows after
    /// the query's position (newest first).
    fn listing() -> MockCustomerRepository {
        let mut customers = MockCustomerRepository::new();
        // Keyset pages of EXPORT_PAGE_SIZE (one extra row tells a next page exists), whatever
        // the list query's page and limit were.
        customers
            .expect_list()
            .withf(|_, _, q| q.offset.is_none() && q.limit == EXPORT_PAGE_SIZE + 1)
            .returning(|_, _, q| {
                let all: Vec<Customer> = (0..LISTED).map(listed).collect();
                let start = match &q.after {
                    None => 0,
                    Some(p) => all.iter().position(|c| c.id == p.id).unwrap() + 1,
                };
                Ok(all.into_iter().skip(start).take(q.limit as usize).collect())
            });
        customers
    }

    /// Everything a list export did, in order.
    type Log = Arc<Mutex<Vec<String>>>;

    fn record(log: &Log, event: String) {
        log.lock().unwrap().push(event);
    }

    /// A mock CSV writer that logs its calls; the bytes ready after the n-th page are `page n`.
    fn csv_writer(log: &Log) -> MockSheetWriter {
        let mut writer = MockSheetWriter::new();
        let l = log.clone();
        writer.expect_write_header().times(1).returning(move |h| {
            record(&l, format!("header {}", h.join(",")));
            Ok(())
        });
        let l = log.clone();
        writer.expect_write_row().returning(move |cells| {
            record(&l, format!("row {}", cells.join(",")));
            Ok(())
        });
        let l = log.clone();
        let mut pages = 0;
        writer.expect_take_ready().returning(move || {
            pages += 1;
            record(&l, "take_ready".into());
            Ok(format!("page {pages}").into_bytes())
        });
        let l = log.clone();
        writer.expect_finish().times(1).returning(move || {
            record(&l, "finish".into());
            Ok(Box::new(std::io::Cursor::new(b"rest".to_vec())))
        });
        writer
    }

    fn sink(log: &Log) -> MockExportSink {
        let mut sink = MockExportSink::new();
        let l = log.clone();
        sink.expect_send().returning(move |bytes| {
            record(&l, format!("send {}", String::from_utf8_lossy(&bytes)));
            Ok(())
        });
        sink
    }

    fn cells(row: &CustomerRow<'_>) -> Result<Vec<String>, DomainError> {
        Ok(vec![row.customer.profile.name.clone()])
    }

    fn sheet(format: ExportFormat) -> CustomerSheet<'static> {
        CustomerSheet {
            format,
            headers: &["name"],
            cells: &cells,
        }
    }

    fn query() -> CustomerQuery {
        CustomerQuery {
            filter: Default::default(),
            sort: vec![],
            deleted: Default::default(),
            limit: 20,
            after: None,
            offset: Some(40),
            now: t0(),
            search: None,
        }
    }

    #[tokio::test]
    async fn a_list_export_writes_every_page_in_order_and_sends_each_as_it_is_ready() {
        let log = Log::default();
        let mut sheets = MockSheetWriters::new();
        let writer = csv_writer(&log);
        sheets
            .expect_open()
            .withf(|f| *f == ExportFormat::Csv)
            .times(1)
            .return_once(move |_| Ok(Box::new(writer)));
        let mut rest = service_over(listing())
            .write_customers(
                &actor("admin"),
                query(),
                &sheets,
                &sheet(ExportFormat::Csv),
                &mut sink(&log),
            )
            .await
            .unwrap();
        let mut tail = String::new();
        rest.read_to_string(&mut tail).unwrap();
        assert_eq!(tail, "rest");

        let page = EXPORT_PAGE_SIZE as u128;
        let mut expected = vec!["header name".to_owned()];
        expected.extend((0..page).map(|i| format!("row C{i}")));
        expected.extend(["take_ready".into(), "send page 1".into()]);
        expected.extend((page..LISTED).map(|i| format!("row C{i}")));
        expected.extend(["take_ready".into(), "send page 2".into(), "finish".into()]);
        assert_eq!(*log.lock().unwrap(), expected);
    }

    #[tokio::test]
    async fn a_list_export_sends_nothing_until_bytes_are_ready() {
        let mut writer = MockSheetWriter::new();
        writer.expect_write_header().times(1).returning(|_| Ok(()));
        writer
            .expect_write_row()
            .times(LISTED as usize)
            .returning(|_| Ok(()));
        writer
            .expect_take_ready()
            .times(2)
            .returning(|| Ok(Vec::new()));
        writer
            .expect_finish()
            .times(1)
            .returning(|| Ok(Box::new(std::io::Cursor::new(b"PK".to_vec()))));
        let mut sheets = MockSheetWriters::new();
        sheets
            .expect_open()
            .withf(|f| *f == ExportFormat::Xlsx)
            .return_once(move |_| Ok(Box::new(writer)));
        let mut sink = MockExportSink::new();
        sink.expect_send().never();
        let mut file = Vec::new();
        service_over(listing())
            .write_customers(
                &actor("admin"),
                query(),
                &sheets,
                &sheet(ExportFormat::Xlsx),
                &mut sink,
            )
            .await
            .unwrap()
            .read_to_end(&mut file)
            .unwrap();
        assert_eq!(file, b"PK");
    }

    #[tokio::test]
    async fn a_list_export_stops_when_the_sink_takes_no_more() {
        let mut sheets = MockSheetWriters::new();
        let mut writer = MockSheetWriter::new();
        writer.expect_write_header().returning(|_| Ok(()));
        writer.expect_write_row().returning(|_| Ok(()));
        writer
            .expect_take_ready()
            .times(1)
            .returning(|| Ok(b"rows".to_vec()));
        writer.expect_finish().never();
        sheets
            .expect_open()
            .return_once(move |_| Ok(Box::new(writer)));
        let mut sink = MockExportSink::new();
        sink.expect_send()
            .times(1)
            .returning(|_| Err(SheetError::Failed("the client went away".into())));
        let mut customers = MockCustomerRepository::new();
        let calls = Arc::new(Mutex::new(0));
        let c = calls.clone();
        customers.expect_list().returning(move |_, _, q| {
            *c.lock().unwrap() += 1;
            Ok((0..=q.limit as u128).map(listed).collect())
        });
        let err = service_over(customers)
            .write_customers(
                &actor("admin"),
                query(),
                &sheets,
                &sheet(ExportFormat::Csv),
                &mut sink,
            )
            .await
            .err()
            .unwrap();
        assert_eq!(err, DomainError::Internal("the client went away".into()));
        assert_eq!(
            *calls.lock().unwrap(),
            1,
            "no page is read after the sink closed"
        );
    }

    #[tokio::test]
    async fn a_list_export_needs_manage_before_anything_is_read_or_opened() {
        let mut sheets = MockSheetWriters::new();
        sheets.expect_open().never();
        let mut sink = MockExportSink::new();
        sink.expect_send().never();
        for role in ["viewer", "sales", "manager"] {
            let mut customers = MockCustomerRepository::new();
            customers.expect_list().never();
            let err = service_over(customers)
                .write_customers(
                    &actor(role),
                    query(),
                    &sheets,
                    &sheet(ExportFormat::Csv),
                    &mut sink,
                )
                .await
                .err();
            assert_eq!(
                err,
                Some(DomainError::Forbidden(Permission::CustomersManage)),
                "{role}"
            );
        }
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

    #[tokio::test]
    async fn consent_columns_read_each_pages_consents_once() {
        let log = Log::default();
        let mut sheets = MockSheetWriters::new();
        let writer = csv_writer(&log);
        sheets
            .expect_open()
            .return_once(move |_| Ok(Box::new(writer)));
        fn with_consent(row: &CustomerRow<'_>) -> Result<Vec<String>, DomainError> {
            Ok(vec![
                row.customer.profile.name.clone(),
                row.consent_cell("consent_marketing_sms").unwrap(),
                row.consent_cell("consent_marketing_email").unwrap(),
            ])
        }
        let sheet = CustomerSheet {
            format: ExportFormat::Csv,
            headers: &["name", "consent_marketing_sms", "consent_marketing_email"],
            cells: &with_consent,
        };
        service_over(listing())
            .write_customers(&actor("admin"), query(), &sheets, &sheet, &mut sink(&log))
            .await
            .unwrap();
        let rows: Vec<String> = log
            .lock()
            .unwrap()
            .iter()
            .filter(|e| e.starts_with("row "))
            .cloned()
            .collect();
        assert_eq!(rows.len(), LISTED as usize);
        assert_eq!(rows[0], "row C0,granted,");
        assert_eq!(rows[1], "row C1,,");
        assert_eq!(
            rows[LISTED as usize - 2],
            format!("row C{},granted,", LISTED - 2)
        );
        let row = CustomerRow {
            customer: &customer(),
            consents: &[],
            primary_contact: None,
            addresses: &[],
        };
        assert_eq!(row.consent_cell("name"), None);
        assert_eq!(row.contact_cell("name"), None);
        assert_eq!(
            row.contact_cell("primary_contact_email"),
            Some(String::new())
        );
    }
}
