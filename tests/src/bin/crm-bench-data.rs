//! `crm-bench-data`: loads a benchmark data set (by default 1,000,000 customers over 10 tenants,
//! the largest with 500,000) into a crm database, SQLite or PostgreSQL, in minutes.
//!
//! Customers are realistic and valid: English first and last names (the `fake` crate), unique
//! e-mails at common providers, Indonesian mobile numbers for 70 %, companies for the 15 % that
//! are businesses, 0–3 tags from a list of 12, statuses, stages and sources with skewed
//! frequencies, 3 % VIPs, follow-up dates for 10 %, creation dates over the last three years,
//! and a spending history (orders, total spent in IDR, first and last order dates) for 70 %.
//! Every customer has a default billing address in one of 20 Indonesian cities (weighted by
//! size), its coordinates scattered up to about 25 km around the city centre, for the radius
//! search benchmark.
//! Every profile goes through the domain's validation; rows are written by the repository's
//! bulk path ([`crm_infra::SeaCustomerRepository::insert_loaded`]), 2,000 per transaction.
//! The statistics are written as if derived from orders; no order rows are created.
//!
//! Prints one line per tenant, `<tenant id> <customers>`, largest first.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::time::Instant;

use chrono::{DateTime, Duration, SubsecRound, Utc};
use clap::Parser;
use crm_domain::address::{AddressInput, new_addresses};
use crm_domain::customer::{
    AcquisitionSource, CustomerInput, CustomerStatus, CustomerType, LifecycleStage, NewCustomer,
    PurchaseStats, ValidationContext,
};
use crm_domain::tenant::NewTenant;
use crm_domain::values::{Amount, CountryCode, CurrencyCode};
use crm_domain::{CustomerId, TenantId, UserId};
use crm_infra::{Database, DbConfig, SeaCustomerRepository};
use fake::Fake;
use fake::faker::company::en::CompanyName;
use fake::faker::name::en::{FirstName, LastName};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use uuid::Uuid;

/// Loads benchmark customers.
#[derive(Parser)]
struct Args {
    /// Database URL (`sqlite://path` or `postgres://...`); created and migrated if needed.
    #[arg(long, env = "CRM_DATABASE_URL")]
    database_url: String,
    /// Customers in all.
    #[arg(long, default_value_t = 1_000_000)]
    customers: usize,
    /// Tenants.
    #[arg(long, default_value_t = 10)]
    tenants: usize,
    /// Customers of the largest tenant; the rest are shared evenly by the others.
    #[arg(long, default_value_t = 500_000)]
    largest: usize,
    /// Random seed (the same seed gives the same data).
    #[arg(long, default_value_t = 42)]
    seed: u64,
}

/// Customers per transaction.
const BATCH: usize = 2_000;

const TAGS: [&str; 12] = [
    "wholesale",
    "retail",
    "newsletter",
    "jakarta",
    "surabaya",
    "bandung",
    "online",
    "reseller",
    "corporate",
    "student",
    "premium",
    "dormant",
];
const PROVIDERS: [&str; 6] = [
    "gmail.com",
    "yahoo.co.id",
    "outlook.com",
    "hotmail.com",
    "icloud.com",
    "mail.id",
];
/// Cities, their province, centre (WGS 84 degrees) and weight.
const CITIES: [(&str, &str, f64, f64, u32); 20] = [
    ("Jakarta", "DKI Jakarta", -6.2088, 106.8456, 20),
    ("Surabaya", "Jawa Timur", -7.2575, 112.7521, 8),
    ("Bandung", "Jawa Barat", -6.9175, 107.6191, 7),
    ("Medan", "Sumatera Utara", 3.5952, 98.6722, 6),
    ("Semarang", "Jawa Tengah", -6.9667, 110.4167, 5),
    ("Makassar", "Sulawesi Selatan", -5.1477, 119.4327, 4),
    ("Palembang", "Sumatera Selatan", -2.9761, 104.7754, 4),
    ("Tangerang", "Banten", -6.1783, 106.6319, 5),
    ("Depok", "Jawa Barat", -6.4025, 106.7942, 4),
    ("Bekasi", "Jawa Barat", -6.2383, 106.9756, 5),
    ("Denpasar", "Bali", -8.6705, 115.2126, 3),
    ("Yogyakarta", "DI Yogyakarta", -7.7956, 110.3695, 3),
    ("Malang", "Jawa Timur", -7.9666, 112.6326, 3),
    ("Balikpapan", "Kalimantan Timur", -1.2379, 116.8529, 2),
    ("Pontianak", "Kalimantan Barat", -0.0263, 109.3425, 2),
    ("Manado", "Sulawesi Utara", 1.4748, 124.8421, 2),
    ("Padang", "Sumatera Barat", -0.9471, 100.4172, 2),
    ("Pekanbaru", "Riau", 0.5071, 101.4478, 2),
    ("Banjarmasin", "Kalimantan Selatan", -3.3186, 114.5944, 2),
    ("Jayapura", "Papua", -2.5337, 140.7181, 1),
];
const INDUSTRIES: [&str; 6] = [
    "retail",
    "food",
    "logistics",
    "manufacturing",
    "software",
    "health",
];

fn pick<T: Copy>(rng: &mut StdRng, weighted: &[(T, u32)]) -> T {
    let total: u32 = weighted.iter().map(|(_, w)| w).sum();
    let mut x = rng.random_range(0..total);
    for (v, w) in weighted {
        if x < *w {
            return *v;
        }
        x -= w;
    }
    weighted[0].0
}

/// The `i`-th customer of a tenant (`i` makes e-mails and phones unique).
fn customer(
    rng: &mut StdRng,
    tenant: TenantId,
    i: usize,
    ctx: &ValidationContext,
    now: DateTime<Utc>,
) -> (NewCustomer, PurchaseStats) {
    let first: String = FirstName().fake_with_rng(rng);
    let last: String = LastName().fake_with_rng(rng);
    let business = rng.random_bool(0.15);
    let mut tags: Vec<String> = (0..rng.random_range(0..=3))
        .map(|_| TAGS[rng.random_range(0..TAGS.len())].to_owned())
        .collect();
    tags.sort();
    tags.dedup();
    // 8 digits from i through a bijection of 0..10^8, so numbers are unique and look random.
    let digits = (i as u64 * 48_271 + 12_345) % 100_000_000;
    let created_at =
        (now - Duration::seconds(rng.random_range(0..3 * 365 * 86_400))).trunc_subsecs(6);
    let input = CustomerInput {
        name: Some(format!("{first} {last}")),
        email: Some(format!(
            "{}.{}{}@{}",
            first.to_lowercase(),
            last.to_lowercase().replace(['\'', ' '], ""),
            i,
            PROVIDERS[rng.random_range(0..PROVIDERS.len())]
        )),
        mobile_phone: rng
            .random_bool(0.7)
            .then(|| format!("08{}{digits:08}", rng.random_range(11..=13))),
        customer_type: Some(if business {
            CustomerType::Business
        } else {
            CustomerType::Individual
        }),
        company: business.then(|| CompanyName().fake_with_rng(rng)),
        industry: business.then(|| INDUSTRIES[rng.random_range(0..INDUSTRIES.len())].to_owned()),
        status: Some(pick(
            rng,
            &[
                (CustomerStatus::Active, 80),
                (CustomerStatus::Inactive, 15),
                (CustomerStatus::Blocked, 2),
                (CustomerStatus::Archived, 3),
            ],
        )),
        stage: Some(pick(
            rng,
            &[
                (LifecycleStage::Prospect, 15),
                (LifecycleStage::Lead, 15),
                (LifecycleStage::Customer, 60),
                (LifecycleStage::Advocate, 10),
            ],
        )),
        source: Some(AcquisitionSource::ALL[rng.random_range(0..AcquisitionSource::ALL.len())]),
        assigned_to: rng
            .random_bool(0.5)
            .then(|| format!("sales-{}", rng.random_range(1..=20))),
        tags: Some(tags),
        is_vip: Some(rng.random_bool(0.03)),
        next_follow_up_at: rng
            .random_bool(0.1)
            .then(|| now + Duration::days(rng.random_range(-60..60))),
        ..Default::default()
    };
    let profile = input.validate(ctx).expect("generated profiles are valid");
    let orders: i64 = if rng.random_bool(0.3) {
        0
    } else {
        // Geometric number of orders, mean about 4.
        1 + (rng.random::<f64>().ln() / 0.75_f64.ln()).floor() as i64
    };
    let stats = if orders == 0 {
        PurchaseStats::default()
    } else {
        // Average order value 50,000..2,000,000 IDR (log-uniform), in whole rupiah.
        let aov = (50_000_f64 * 40_f64.powf(rng.random::<f64>())).round() as i64;
        let spent = aov * orders;
        let span = (now - created_at).num_seconds().max(1);
        let first_at = created_at + Duration::seconds(rng.random_range(0..span) / 4);
        let last_at =
            first_at + Duration::seconds(rng.random_range(0..=(now - first_at).num_seconds()));
        PurchaseStats {
            total_orders: orders,
            total_spent: Amount::from_scaled(spent * 10_000),
            average_order_value: Amount::from_scaled(aov * 10_000),
            first_order_at: Some(first_at.trunc_subsecs(6)),
            last_order_at: Some(last_at.trunc_subsecs(6)),
        }
    };
    let city = pick(
        rng,
        &CITIES.map(|(name, region, lat, lng, w)| ((name, region, lat, lng), w)),
    );
    let street = format!(
        "Jl. {} No. {}",
        LastName().fake_with_rng::<String, _>(rng),
        rng.random_range(1..=250)
    );
    let address = AddressInput {
        address_type: Some("billing".into()),
        line1: Some(street),
        city: Some(city.0.into()),
        region: Some(city.1.into()),
        postal_code: Some(format!("{}", rng.random_range(10_000..=99_999))),
        latitude: Some(city.2 + rng.random_range(-0.22..0.22)),
        longitude: Some(city.3 + rng.random_range(-0.22..0.22)),
        ..Default::default()
    };
    let ts = uuid::Timestamp::from_unix(
        uuid::NoContext,
        created_at.timestamp() as u64,
        created_at.timestamp_subsec_nanos(),
    );
    let id = CustomerId(Uuid::new_v7(ts));
    let addresses = new_addresses(
        vec![address],
        ctx.default_country,
        tenant,
        id,
        UserId::parse("bench-loader"),
        created_at,
        || Uuid::new_v7(ts),
    )
    .expect("generated addresses are valid");
    (
        NewCustomer {
            id,
            tenant_id: tenant,
            profile,
            created_by: UserId::parse("bench-loader"),
            created_at,
            addresses,
            contacts: Vec::new(),
        },
        stats,
    )
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let db = Database::connect(&DbConfig::new(&args.database_url)).await?;
    crm_server::migrate(&db).await?;
    let services = crm_server::services(&db);
    // A bulk load: the job connections and their statement time limit.
    let repo = SeaCustomerRepository::new(db.for_jobs());
    let others = args.tenants.saturating_sub(1).max(1);
    let rest = args.customers.saturating_sub(args.largest);
    let now = Utc::now();
    let ctx = ValidationContext {
        default_country: CountryCode::parse("ID"),
        default_currency: CurrencyCode::parse("IDR").expect("IDR"),
        today: now.date_naive(),
    };
    let started = Instant::now();
    let mut loaded = 0;
    for t in 0..args.tenants {
        let size = if t == 0 {
            args.largest
        } else {
            rest / others + usize::from(t <= rest % others)
        };
        let tenant = services
            .tenants
            .create(NewTenant {
                name: format!("Bench {t}"),
                country: Some("ID".into()),
                currency: Some("IDR".into()),
            })
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        let mut rng = StdRng::seed_from_u64(args.seed.wrapping_add(t as u64));
        // Generate the next batch while the current one is written.
        let (tx, mut rx) = tokio::sync::mpsc::channel::<Vec<(NewCustomer, PurchaseStats)>>(2);
        let ctx2 = ctx;
        let generator = tokio::task::spawn_blocking(move || {
            let mut i = 0;
            while i < size {
                let n = BATCH.min(size - i);
                let batch = (i..i + n)
                    .map(|k| customer(&mut rng, tenant.id, k, &ctx2, now))
                    .collect();
                if tx.blocking_send(batch).is_err() {
                    return;
                }
                i += n;
            }
        });
        while let Some(batch) = rx.recv().await {
            repo.insert_loaded(tenant.id, &batch)
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            loaded += batch.len();
            if loaded % 100_000 < BATCH {
                eprintln!(
                    "{loaded} customers in {:.0} s",
                    started.elapsed().as_secs_f64()
                );
            }
        }
        generator.await?;
        println!("{} {size}", tenant.id);
    }
    eprintln!(
        "loaded {loaded} customers in {:.1} s ({:.0}/s)",
        started.elapsed().as_secs_f64(),
        loaded as f64 / started.elapsed().as_secs_f64()
    );
    Ok(())
}
