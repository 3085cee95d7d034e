//! crm as a library: crm-domain's services on crm-infra's SQLite adapters, without HTTP.
//!
//! Opens (and migrates) a SQLite file in a temporary folder, creates a tenant and an admin
//! actor, creates customers, places orders (points and tiers follow), redeems points,
//! recomputes RFM and fits the CLV models on a generated year of purchases, then prints what
//! the services answer. Run it with `cargo run -p embed`.

use std::sync::Arc;

use anyhow::{Context, bail};
use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};
use crm_domain::analytics::clv::TimeUnit;
use crm_domain::analytics::{AnalyticsService, PredictionOptions};
use crm_domain::customer::{CustomerInput, CustomerService};
use crm_domain::job::JobState;
use crm_domain::loyalty::LoyaltyService;
use crm_domain::order::{BulkOrder, OrderInput, OrderService, OrderStatus};
use crm_domain::ports::{SystemClock, UuidV7Generator};
use crm_domain::tenant::{NewTenant, TenantService};
use crm_domain::{Actor, CustomerId, UserId};
use crm_infra::{
    Database, DbConfig, SeaAnalyticsRepository, SeaCustomerRepository, SeaJobRepository,
    SeaOrderRepository, SeaTenantRepository,
};
use rust_decimal::Decimal;

/// The domain services this example uses.
struct Services {
    tenants: TenantService,
    customers: CustomerService,
    orders: OrderService,
    loyalty: LoyaltyService,
    analytics: AnalyticsService,
}

/// Wires the domain services to crm-infra's SeaORM repositories on `db` (as
/// `crm_server::Services::new` does for the server). An embedding application could pass its
/// own implementations of the same ports instead.
fn wire(db: &Database) -> Services {
    let clock = Arc::new(SystemClock);
    let ids = Arc::new(UuidV7Generator);
    let tenants = Arc::new(SeaTenantRepository::new(db.clone()));
    let customers = Arc::new(SeaCustomerRepository::new(db.clone()));
    let orders = Arc::new(SeaOrderRepository::new(db.clone()));
    Services {
        customers: CustomerService::new(
            customers.clone(),
            tenants.clone(),
            clock.clone(),
            ids.clone(),
        ),
        orders: OrderService::new(
            customers.clone(),
            orders.clone(),
            tenants.clone(),
            clock.clone(),
            ids.clone(),
        ),
        loyalty: LoyaltyService::new(
            customers.clone(),
            orders,
            tenants.clone(),
            clock.clone(),
            ids.clone(),
        ),
        analytics: AnalyticsService::new(
            Arc::new(SeaAnalyticsRepository::new(db.clone())),
            Arc::new(SeaJobRepository::new(db.clone())),
            customers,
            tenants.clone(),
            clock.clone(),
            ids.clone(),
        ),
        tenants: TenantService::new(tenants, clock, ids),
    }
}

/// Noon (UTC) of a day.
fn noon(day: NaiveDate) -> anyhow::Result<DateTime<Utc>> {
    day.and_hms_opt(12, 0, 0)
        .map(|t| t.and_utc())
        .context("no noon on that day")
}

fn date(y: i32, m: u32, d: u32) -> anyhow::Result<NaiveDate> {
    NaiveDate::from_ymd_opt(y, m, d).with_context(|| format!("no day {y}-{m}-{d}"))
}

/// A completed, paid order of `rupiah` on `day` with a ref of the caller's (so a re-run of
/// the same ref would return the stored order).
fn order(order_ref: &str, day: NaiveDate, rupiah: i64) -> anyhow::Result<OrderInput> {
    Ok(OrderInput {
        order_ref: Some(order_ref.to_owned()),
        placed_at: Some(noon(day)?),
        total_amount: Some(Decimal::from(rupiah)),
        ..Default::default()
    })
}

/// xorshift64*: a small deterministic generator, so every run prints the same history.
struct Rng(u64);

impl Rng {
    /// Uniform in (0, 1).
    fn next(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        let x = self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11;
        (x as f64 + 0.5) / (1u64 << 53) as f64
    }
}

/// Shoppers of the generated history.
const SHOPPERS: usize = 200;

/// A year (2025) of purchases by [`SHOPPERS`] customers who first buy in the first quarter,
/// drawn the way the BG/NBD and Gamma-Gamma models assume: each customer buys at their own
/// rate (Gamma distributed, r = 2, alpha = 8 weeks), may drop out after each repeat purchase
/// with their own probability (Beta distributed, a = 1, b = 3), and spends around their own
/// mean. Returns, per shopper, the `(day, rupiah)` of each order.
fn purchase_history() -> anyhow::Result<Vec<Vec<(NaiveDate, i64)>>> {
    let start = date(2025, 1, 1)?;
    let end = date(2025, 12, 31)?;
    let mut rng = Rng(0x5EED_CAFE_F00D_1234);
    let mut shoppers = Vec::with_capacity(SHOPPERS);
    for _ in 0..SHOPPERS {
        let rate = (-rng.next().ln() - rng.next().ln()) / 8.0;
        let drop_out = 1.0 - rng.next().powf(1.0 / 3.0);
        let mean = 100_000.0 + 400_000.0 * rng.next();
        let mut day = start + Duration::days((rng.next() * 90.0) as i64);
        let mut orders = Vec::new();
        while day <= end {
            let spend = mean * (0.6 + 0.8 * rng.next());
            orders.push((day, (spend / 1_000.0).round() as i64 * 1_000));
            if orders.len() > 1 && rng.next() < drop_out {
                break;
            }
            let weeks = -rng.next().ln() / rate;
            day += Duration::days((weeks * 7.0).ceil() as i64);
        }
        shoppers.push(orders);
    }
    Ok(shoppers)
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    // 1. A SQLite database, migrated as `crm-server` does at start-up. (`sqlite::memory:`
    //    would not do: crm-infra opens a writer and separate reader connections.)
    let dir = tempfile::tempdir()?;
    let url = format!("sqlite://{}/crm.db", dir.path().display());
    let db = Database::connect(&DbConfig::new(&url)).await?;
    db.migrate().await?;
    // The search-document backfill that follows migrations (a no-op on a fresh database).
    db.backfill_search_documents().await?;
    let services = wire(&db);

    // 2. A tenant (created with the default tiers) and an admin acting in it.
    let tenant = services
        .tenants
        .create(NewTenant {
            name: "Toko Budi".into(),
            country: Some("ID".into()),
            currency: Some("IDR".into()),
        })
        .await?;
    let user = UserId::parse("embed-example").context("user id")?;
    let admin = Actor::new(tenant.id, user, ["admin"], []);
    println!(
        "Tenant {} ({}, {})",
        tenant.name,
        tenant.default_country.map_or("-", |c| c.as_str()),
        tenant.default_currency.as_str()
    );

    // 3. Customers, and their orders: completed ones earn a point per 10,000 IDR and move the
    //    customer up the tiers; a pending one earns nothing until it completes.
    let people = [
        ("Budi Santoso", "Budi@Example.com", "0812-1111-2222"),
        ("Siti Rahma", "siti.rahma@example.com", "0813 3333 4444"),
        ("Agus Wijaya", "AGUS@example.co.id", "+62 857 5555 6666"),
        ("Dewi Lestari", "dewi@example.com", "0878-7777-8888"),
    ];
    let baskets: [&[(u32, u32, i64)]; 4] = [
        &[
            (2, 3, 1_250_000),
            (5, 14, 2_400_000),
            (8, 20, 950_000),
            (11, 2, 1_800_000),
        ],
        &[(3, 8, 650_000), (9, 9, 1_500_000)],
        &[(6, 1, 420_000)],
        &[],
    ];
    let mut storefront: Vec<CustomerId> = Vec::new();
    for (i, ((name, email, phone), basket)) in people.iter().zip(baskets).enumerate() {
        let input = CustomerInput {
            name: Some((*name).to_owned()),
            email: Some((*email).to_owned()),
            phone: Some((*phone).to_owned()),
            ..Default::default()
        };
        let customer = services
            .customers
            .create(&admin, input, None)
            .await?
            .customer;
        for (k, (m, d, rupiah)) in basket.iter().enumerate() {
            let input = order(&format!("S-{i}-{k}"), date(2025, *m, *d)?, *rupiah)?;
            services
                .orders
                .place(&admin, customer.id, input, false)
                .await?;
        }
        storefront.push(customer.id);
    }
    // Dewi's first order is still pending: no points, no spending.
    let pending = OrderInput {
        status: Some(OrderStatus::Pending),
        ..order("S-3-0", date(2025, 12, 20)?, 3_000_000)?
    };
    let placed = services
        .orders
        .place(&admin, storefront[3], pending, false)
        .await?;
    println!(
        "Dewi's pending order {}: {} points",
        placed.order.order_ref, placed.order.points_earned
    );

    // 4. Budi spends points.
    let balance = services
        .loyalty
        .redeem(&admin, storefront[0], 250, "voucher 25,000 IDR")
        .await?;
    println!("Budi redeemed 250 points; balance now {balance}");

    println!("\nCustomers");
    for id in &storefront {
        let c = services.customers.get(&admin, *id).await?;
        let loyalty = services.loyalty.summary(&admin, *id, None, 1).await?;
        println!(
            "  {} {:<13} {:<24} {:<15} orders {}  spent {:>10} IDR  points {:>4}  tier {}",
            c.customer_code,
            c.profile.name,
            c.profile.email.as_ref().map_or("", |e| e.as_str()),
            c.profile.phone.as_ref().map_or("", |p| p.as_str()),
            c.stats.total_orders,
            c.stats.total_spent,
            loyalty.balance,
            loyalty.tier.map_or_else(|| "-".to_owned(), |t| t.name),
        );
    }

    // 5. A year of purchases by 200 more customers, placed in one transaction.
    let history = purchase_history()?;
    let mut bulk = Vec::new();
    for (i, orders) in history.iter().enumerate() {
        let input = CustomerInput {
            name: Some(format!("Shopper {:03}", i + 1)),
            external_ref: Some(format!("shopper-{:03}", i + 1)),
            ..Default::default()
        };
        let customer = services
            .customers
            .create(&admin, input, None)
            .await?
            .customer;
        for (k, (day, rupiah)) in orders.iter().enumerate() {
            bulk.push(BulkOrder {
                key: bulk.len() as u64,
                customer_id: customer.id,
                input: order(&format!("H-{i}-{k}"), *day, *rupiah)?,
            });
        }
    }
    // Each order has its own outcome; a storage error would have failed the whole batch.
    let placed = services.orders.place_many(&admin, &[], bulk).await?;
    if let Some((key, Err(e))) = placed.iter().find(|(_, r)| r.is_err()) {
        bail!("order {key} was refused: {e}");
    }
    println!(
        "\nGenerated history: {} customers, {} orders in 2025",
        history.len(),
        placed.len()
    );

    // 6. RFM as of 2026-01-01. The API runs it as a background job; here it runs to its end.
    let reference = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).single();
    let (job, reference) = services
        .analytics
        .start_rfm_recompute(&admin, reference)
        .await?;
    let job = services.analytics.run_rfm_recompute(job, reference).await;
    if job.state != JobState::Completed {
        bail!("RFM recompute failed: {:?}", job.error);
    }
    let rfm = services.analytics.rfm_summary(&admin).await?;
    println!(
        "\nRFM segments as of {}: {} scored",
        reference.date_naive(),
        rfm.scored
    );
    for s in rfm.segments.iter().filter(|s| s.totals.customers > 0) {
        println!(
            "  {:<20} {:>4}  {:>5.1}%",
            s.totals.segment.label(),
            s.totals.customers,
            100.0 * s.share
        );
    }

    // 7. BG/NBD and Gamma-Gamma on the purchases up to 2025-09-30, in weeks.
    let model = services
        .analytics
        .fit_clv(&admin, date(2025, 9, 30)?, TimeUnit::Week)
        .await?;
    let bg = model.bgnbd;
    println!(
        "\nCLV models, calibration to {} ({} customers, {} repeat, {} ms)",
        model.calibration_end, model.customers, model.repeat_customers, model.fit_ms
    );
    println!(
        "  BG/NBD       r={:.3} alpha={:.3} a={:.3} b={:.3}  (drawn with r=2 alpha=8 a=1 b=3)",
        bg.r, bg.alpha, bg.a, bg.b
    );
    if let Some(gg) = model.gamma_gamma {
        println!(
            "  Gamma-Gamma  p={:.3} q={:.3} gamma={:.1}",
            gg.p, gg.q, gg.gamma
        );
    }

    // 8. Budi's prediction as of the end of 2025 (12 months, 1 % a month by default).
    let options = PredictionOptions {
        as_of: Some(date(2025, 12, 31)?),
        ..Default::default()
    };
    let budi = services
        .analytics
        .customer_analytics(&admin, storefront[0], options)
        .await?;
    let segment = budi
        .customer
        .rfm
        .as_ref()
        .map_or("-", |r| r.segment.label());
    println!("\nBudi as of {} (RFM {segment})", date(2025, 12, 31)?);
    match budi.prediction {
        Some(p) => {
            println!(
                "  P(alive) {:.3}, expected purchases in 12 months {:.2}",
                p.probability_alive, p.expected_purchases
            );
            println!(
                "  expected order value {:.0} IDR, CLV (1 % a month) {:.0} IDR",
                p.expected_order_value.unwrap_or(0.0),
                p.clv.unwrap_or(0.0)
            );
        }
        None => println!("  no prediction"),
    }
    Ok(())
}
