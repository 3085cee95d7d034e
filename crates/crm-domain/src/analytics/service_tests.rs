//! The analytics service against mockall mocks of its ports.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use chrono::{Duration, NaiveDate, TimeZone, Utc};
use rust_decimal::Decimal;
use uuid::Uuid;

use super::clv::{BgNbdParams, GammaGammaParams, TimeUnit};
use super::ports::{MockAnalyticsRepository, PurchaseHistory};
use super::rfm::{CoarseSegment, RfmSegment};
use super::*;
use crate::access::{Actor, Permission};
use crate::customer::{Customer, CustomerInput, MockCustomerRepository, PurchaseStats};
use crate::error::{DomainError, RepositoryError};
use crate::ids::{CustomerId, JobId, UserId};
use crate::job::{Job, JobKind, JobOutcome, JobService, JobState, MockJobRepository};
use crate::testing::{
    self, TENANT, actor, budi, clock, field_codes, fixed_ids, holding, now, profile, tenants,
};
use crate::values::Amount;

const CUSTOMER: CustomerId = CustomerId(Uuid::from_u128(2));
const NEW_ID: Uuid = Uuid::from_u128(50);

fn day(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap()
}

/// The one place the service is built.
fn service(
    repo: MockAnalyticsRepository,
    jobs: MockJobRepository,
    customers: MockCustomerRepository,
) -> AnalyticsService {
    AnalyticsService::new(
        Arc::new(repo),
        Arc::new(jobs),
        Arc::new(customers),
        Arc::new(tenants(now)),
        Arc::new(clock(now)),
        Arc::new(fixed_ids(NEW_ID)),
    )
}

/// Records the jobs the service saves (the job port's only use here).
fn recording_jobs(jobs: &mut MockJobRepository) -> Arc<Mutex<Vec<Job>>> {
    let saved = Arc::new(Mutex::new(Vec::new()));
    let sink = saved.clone();
    jobs.expect_save().returning(move |j| {
        sink.lock().unwrap().push(j.clone());
        Ok(())
    });
    saved
}

fn running_job() -> Job {
    Job::start(
        JobId(NEW_ID),
        TENANT,
        JobKind::RfmRecompute,
        Some(UserId::parse("user-1").unwrap()),
        now(),
        None,
    )
}

/// The published CDNOW estimates (weeks), as a stored model calibrated up to 1997-09-30.
fn cdnow_model() -> ClvModel {
    ClvModel {
        tenant_id: TENANT,
        calibration_end: day(1997, 9, 30),
        time_unit: TimeUnit::Week,
        bgnbd: BgNbdParams {
            r: 0.243,
            alpha: 4.414,
            a: 0.793,
            b: 2.426,
        },
        bgnbd_log_likelihood: -9582.4,
        customers: 2357,
        gamma_gamma: Some(GammaGammaParams {
            p: 6.25,
            q: 3.74,
            gamma: 15.44,
        }),
        gamma_gamma_log_likelihood: None,
        repeat_customers: 1,
        fit_ms: 1,
        fitted_at: now(),
        fit: None,
    }
}

/// The CDNOW sample's purchases per customer and day up to `until`, as the repository hands
/// them over.
fn cdnow_histories(until: NaiveDate) -> Vec<PurchaseHistory> {
    let mut by_customer: BTreeMap<u128, BTreeMap<NaiveDate, f64>> = BTreeMap::new();
    for line in super::clv::fixtures::CDNOW_SAMPLE.lines() {
        let cols: Vec<&str> = line.split_whitespace().collect();
        if cols.len() != 5 {
            continue;
        }
        let date = NaiveDate::parse_from_str(cols[2], "%Y%m%d").unwrap();
        if date > until {
            continue;
        }
        *by_customer
            .entry(cols[0].parse().unwrap())
            .or_default()
            .entry(date)
            .or_default() += cols[4].parse::<f64>().unwrap();
    }
    by_customer
        .into_iter()
        .map(|(id, days)| PurchaseHistory {
            customer_id: CustomerId(Uuid::from_u128(id)),
            days: days.into_iter().collect(),
        })
        .collect()
}

/// `n` customers who each bought once, on 1 March 2026.
fn one_time_buyers(n: u128) -> Vec<PurchaseHistory> {
    (0..n)
        .map(|i| PurchaseHistory {
            customer_id: CustomerId(Uuid::from_u128(100 + i)),
            days: vec![(day(2026, 3, 1), 10.0)],
        })
        .collect()
}

fn customer(
    spent: i64,
    orders: i64,
    first_order_days_ago: i64,
    acquisition: Option<i64>,
) -> Customer {
    let input = CustomerInput {
        currency: Some("USD".into()),
        acquisition_cost: acquisition.map(Decimal::from),
        ..budi()
    };
    Customer {
        profile: profile(input, now().date_naive()),
        stats: PurchaseStats {
            total_orders: orders,
            total_spent: Amount::new(Decimal::from(spent)).unwrap(),
            first_order_at: (orders > 0).then(|| now() - Duration::days(first_order_days_ago)),
            ..Default::default()
        },
        ..testing::customer(CUSTOMER, now())
    }
}

#[tokio::test]
async fn recomputing_and_fitting_need_the_manage_permission() {
    let mut repo = MockAnalyticsRepository::new();
    let mut jobs = MockJobRepository::new();
    jobs.expect_save().never();
    repo.expect_purchase_days().never();
    repo.expect_save_model().never();
    let s = service(repo, jobs, MockCustomerRepository::new());
    let forbidden = DomainError::Forbidden(Permission::CustomersManage);
    let manager = actor("manager");
    assert_eq!(
        s.start_rfm_recompute(&manager, None).await.unwrap_err(),
        forbidden
    );
    assert_eq!(
        s.fit_clv(&manager, day(2026, 1, 1), TimeUnit::Week)
            .await
            .unwrap_err(),
        forbidden
    );
}

#[tokio::test]
async fn reading_analytics_needs_the_view_permission() {
    let nobody = Actor::new(TENANT, UserId::parse("u").unwrap(), [], []);
    let mut customers = MockCustomerRepository::new();
    customers.expect_find().never();
    let s = service(
        MockAnalyticsRepository::new(),
        MockJobRepository::new(),
        customers,
    );
    let forbidden = DomainError::Forbidden(Permission::CustomersView);
    assert_eq!(s.rfm_summary(&nobody).await.unwrap_err(), forbidden);
    assert_eq!(s.model(&nobody).await.unwrap_err(), forbidden);
    // Jobs (an RFM recompute's included) are read through the job context; no lookup without
    // the permission (the mock has no expectation).
    let jobs = JobService::new(Arc::new(MockJobRepository::new()));
    assert_eq!(
        jobs.job(&nobody, JobId(NEW_ID)).await.unwrap_err(),
        forbidden
    );
    assert_eq!(
        s.customer_analytics(&nobody, CUSTOMER, PredictionOptions::default())
            .await
            .unwrap_err(),
        forbidden
    );
    assert_eq!(
        s.clv_summary(&nobody, PredictionOptions::default(), 10)
            .await
            .unwrap_err(),
        forbidden
    );
}

#[tokio::test]
async fn a_recompute_starts_as_a_running_job_as_of_now_by_default() {
    let mut jobs = MockJobRepository::new();
    let saved = recording_jobs(&mut jobs);
    let s = service(
        MockAnalyticsRepository::new(),
        jobs,
        MockCustomerRepository::new(),
    );
    let (job, reference) = s.start_rfm_recompute(&actor("admin"), None).await.unwrap();
    assert_eq!(job, running_job());
    assert_eq!(reference, now());
    assert_eq!(*saved.lock().unwrap(), [running_job()]);

    let asked =
        Utc.with_ymd_and_hms(2026, 6, 30, 23, 59, 59).unwrap() + Duration::nanoseconds(1_500);
    let (_, reference) = s
        .start_rfm_recompute(&actor("admin"), Some(asked))
        .await
        .unwrap();
    assert_eq!(reference, asked - Duration::nanoseconds(500));
}

#[tokio::test]
async fn a_finished_recompute_records_how_many_customers_it_scored() {
    let reference = Utc.with_ymd_and_hms(2026, 6, 30, 0, 0, 0).unwrap();
    let mut repo = MockAnalyticsRepository::new();
    repo.expect_recompute_rfm()
        .withf(move |t, r| *t == TENANT && *r == reference)
        .times(1)
        .returning(|_, _| Ok(42));
    let mut jobs = MockJobRepository::new();
    let saved = recording_jobs(&mut jobs);
    let job = service(repo, jobs, MockCustomerRepository::new())
        .run_rfm_recompute(running_job(), reference)
        .await;
    assert_eq!(job.state, JobState::Completed);
    let Some(JobOutcome::RfmRecompute(outcome)) = &job.result else {
        panic!("expected an RFM outcome, got {:?}", job.result);
    };
    assert_eq!(outcome.scored, 42);
    assert_eq!(job.finished_at, Some(now()));
    assert_eq!(*saved.lock().unwrap(), [job]);
}

#[tokio::test]
async fn a_failed_recompute_records_its_error() {
    let mut repo = MockAnalyticsRepository::new();
    repo.expect_recompute_rfm()
        .returning(|_, _| Err(RepositoryError::Unavailable("connection refused".into())));
    let mut jobs = MockJobRepository::new();
    let saved = recording_jobs(&mut jobs);
    let job = service(repo, jobs, MockCustomerRepository::new())
        .run_rfm_recompute(running_job(), now())
        .await;
    assert_eq!(job.state, JobState::Failed);
    assert!(job.result.is_none());
    // The job says the database was unavailable, in our words: the driver's text is logged.
    let error = job.error.as_deref().unwrap();
    assert!(error.contains("unavailable"), "{error}");
    assert!(!error.contains("connection refused"), "{error}");
    assert_eq!(saved.lock().unwrap()[0].state, JobState::Failed);
}

#[tokio::test]
async fn the_rfm_summary_lists_every_segment_with_its_share_of_the_scored_customers() {
    let computed = Utc.with_ymd_and_hms(2026, 11, 1, 0, 0, 0).unwrap();
    let mut repo = MockAnalyticsRepository::new();
    repo.expect_rfm_totals().returning(move |_, _| {
        Ok((
            vec![
                RfmSegmentTotals {
                    segment: RfmSegment::Lost,
                    customers: 1,
                    revenue: vec![],
                },
                RfmSegmentTotals {
                    segment: RfmSegment::Champions,
                    customers: 3,
                    revenue: vec![("IDR".into(), Amount::from_scaled(10_000).into())],
                },
            ],
            Some(computed),
        ))
    });
    let summary = service(
        repo,
        MockJobRepository::new(),
        MockCustomerRepository::new(),
    )
    .rfm_summary(&actor("viewer"))
    .await
    .unwrap();
    assert_eq!((summary.scored, summary.computed_at), (4, Some(computed)));
    let order: Vec<_> = summary.segments.iter().map(|s| s.totals.segment).collect();
    assert_eq!(order, RfmSegment::ALL);
    let of = |seg: RfmSegment| {
        let s = summary
            .segments
            .iter()
            .find(|s| s.totals.segment == seg)
            .unwrap();
        (s.totals.customers, s.share, s.coarse)
    };
    assert_eq!(
        of(RfmSegment::Champions),
        (3, 0.75, CoarseSegment::Champions)
    );
    assert_eq!(of(RfmSegment::Lost), (1, 0.25, CoarseSegment::Lost));
    assert_eq!(of(RfmSegment::AtRisk), (0, 0.0, CoarseSegment::AtRisk));
}

#[tokio::test]
async fn before_the_first_recompute_every_share_is_zero() {
    let mut repo = MockAnalyticsRepository::new();
    repo.expect_rfm_totals()
        .returning(|_, _| Ok((vec![], None)));
    let summary = service(
        repo,
        MockJobRepository::new(),
        MockCustomerRepository::new(),
    )
    .rfm_summary(&actor("viewer"))
    .await
    .unwrap();
    assert_eq!((summary.scored, summary.computed_at), (0, None));
    assert!(summary.segments.iter().all(|s| s.share == 0.0));
}

#[tokio::test]
async fn a_calibration_period_ending_in_the_future_is_refused() {
    let mut repo = MockAnalyticsRepository::new();
    repo.expect_purchase_days().never();
    let err = service(
        repo,
        MockJobRepository::new(),
        MockCustomerRepository::new(),
    )
    .fit_clv(&actor("admin"), day(2026, 11, 22), TimeUnit::Week)
    .await
    .unwrap_err();
    assert_eq!(
        field_codes(err),
        [("calibration_end".to_owned(), "in_future")]
    );
}

#[tokio::test]
async fn the_models_are_not_fitted_on_fewer_than_two_customers() {
    let mut repo = MockAnalyticsRepository::new();
    repo.expect_purchase_days().returning(|_, _, _, _, _| {
        Ok(vec![PurchaseHistory {
            customer_id: CUSTOMER,
            days: vec![(day(2026, 1, 1), 10.0), (day(2026, 2, 1), 20.0)],
        }])
    });
    repo.expect_save_model().never();
    let err = service(
        repo,
        MockJobRepository::new(),
        MockCustomerRepository::new(),
    )
    .fit_clv(&actor("admin"), day(2026, 11, 21), TimeUnit::Week)
    .await
    .unwrap_err();
    assert_eq!(
        field_codes(err),
        [("calibration_end".to_owned(), "not_enough_data")]
    );
}

#[tokio::test]
async fn the_models_are_not_fitted_when_nobody_bought_twice() {
    let mut repo = MockAnalyticsRepository::new();
    repo.expect_purchase_days()
        .returning(|_, _, _, _, _| Ok(one_time_buyers(50)));
    repo.expect_save_model().never();
    let err = service(
        repo,
        MockJobRepository::new(),
        MockCustomerRepository::new(),
    )
    .fit_clv(&actor("admin"), day(2026, 11, 21), TimeUnit::Week)
    .await
    .unwrap_err();
    let DomainError::Validation(errs) = err else {
        panic!("expected a validation error, got {err:?}");
    };
    assert_eq!(
        (errs[0].field.as_str(), errs[0].code),
        ("calibration_end", "not_enough_data")
    );
    assert!(errs[0].message.contains("repeat"), "{}", errs[0].message);
}

#[tokio::test]
async fn a_fit_uses_the_tenant_currencys_orders_up_to_the_calibration_end_and_is_stored() {
    let end = day(1997, 9, 30);
    let mut repo = MockAnalyticsRepository::new();
    repo.expect_purchase_days()
        .withf(move |t, _, currency, until, customer| {
            *t == TENANT && currency == "IDR" && *until == end && customer.is_none()
        })
        .times(1)
        .returning(|_, _, _, _, _| Ok(cdnow_histories(day(1997, 9, 30))));
    let saved = Arc::new(Mutex::new(None));
    let sink = saved.clone();
    repo.expect_save_model().times(1).returning(move |m| {
        *sink.lock().unwrap() = Some(m.clone());
        Ok(())
    });
    let model = service(
        repo,
        MockJobRepository::new(),
        MockCustomerRepository::new(),
    )
    .fit_clv(&actor("admin"), end, TimeUnit::Week)
    .await
    .unwrap();
    assert_eq!(saved.lock().unwrap().as_ref(), Some(&model));
    assert_eq!(
        (
            model.tenant_id,
            model.calibration_end,
            model.time_unit,
            model.fitted_at
        ),
        (TENANT, end, TimeUnit::Week, now())
    );
    let repeaters = super::clv::fixtures::cdnow_summaries()
        .iter()
        .filter(|s| s.frequency > 0.0)
        .count() as u64;
    assert_eq!((model.customers, model.repeat_customers), (2357, repeaters));
    assert!((model.bgnbd.r - 0.243).abs() < 0.01, "{:?}", model.bgnbd);
    assert!(model.gamma_gamma.is_some());
    // The response carries each step's time and each optimiser's report.
    let fit = model.fit.as_ref().expect("the fit's details");
    assert_eq!(fit.bgnbd.method, super::clv::FitMethod::Lbfgs);
    assert!(fit.bgnbd.gradient_norm <= 1e-7, "{fit:?}");
    assert!(fit.gamma_gamma.is_some_and(|g| g.iterations > 0), "{fit:?}");
    for t in [
        fit.read_ms,
        fit.summarise_ms,
        fit.bgnbd_ms,
        fit.gamma_gamma_ms,
    ] {
        assert!(t >= 0.0 && t <= model.fit_ms as f64 + 1.0, "{fit:?}");
    }
}

#[tokio::test]
async fn prediction_options_are_checked_before_anything_is_read() {
    let mut customers = MockCustomerRepository::new();
    customers.expect_find().never();
    let mut repo = MockAnalyticsRepository::new();
    repo.expect_find_model().never();
    let s = service(repo, MockJobRepository::new(), customers);
    for (horizon_months, monthly_discount_rate) in [(0, 0.01), (121, 0.01), (12, 1.0), (12, -0.01)]
    {
        let options = PredictionOptions {
            horizon_months,
            monthly_discount_rate,
            as_of: None,
        };
        let fields: Vec<_> = field_codes(
            s.customer_analytics(&actor("viewer"), CUSTOMER, options)
                .await
                .unwrap_err(),
        )
        .into_iter()
        .map(|(f, _)| f)
        .collect();
        let want = if horizon_months == 12 {
            "discount_rate"
        } else {
            "horizon_months"
        };
        assert_eq!(fields, [want], "{options:?}");
        assert!(matches!(
            s.clv_summary(&actor("viewer"), options, 10).await,
            Err(DomainError::Validation(_))
        ));
    }
}

#[tokio::test]
async fn the_analytics_of_an_unknown_or_other_tenants_customer_are_not_found() {
    let mut customers = MockCustomerRepository::new();
    customers
        .expect_find()
        .withf(|t, _, _| *t == TENANT)
        .returning(|_, _, _| Ok(None));
    let err = service(
        MockAnalyticsRepository::new(),
        MockJobRepository::new(),
        customers,
    )
    .customer_analytics(&actor("viewer"), CUSTOMER, PredictionOptions::default())
    .await
    .unwrap_err();
    assert_eq!(err, DomainError::NotFound { entity: "customer" });
}

#[tokio::test]
async fn historical_value_comes_from_the_customers_statistics() {
    let mut repo = MockAnalyticsRepository::new();
    repo.expect_find_model().returning(|_| Ok(None));
    repo.expect_purchase_days().never();
    let a = service(
        repo,
        MockJobRepository::new(),
        holding(customer(300, 3, 90, Some(100))),
    )
    .customer_analytics(&actor("viewer"), CUSTOMER, PredictionOptions::default())
    .await
    .unwrap();
    let h = a.historical;
    assert_eq!(
        (h.total_revenue, h.orders, h.average_order_value),
        (300.0, 3, 100.0)
    );
    // 3 orders over 90 days: one a 30-day month; the acquisition cost is taken off the profit.
    assert_eq!(
        (h.tenure_days, h.purchases_per_month, h.profit),
        (90, 1.0, 200.0)
    );
    assert!(a.prediction.is_none());
}

#[tokio::test]
async fn a_new_customer_has_no_tenure_and_counts_its_orders_as_one_month() {
    let mut repo = MockAnalyticsRepository::new();
    repo.expect_find_model().returning(|_| Ok(None));
    let h = service(
        repo,
        MockJobRepository::new(),
        holding(customer(50, 2, 10, None)),
    )
    .customer_analytics(&actor("viewer"), CUSTOMER, PredictionOptions::default())
    .await
    .unwrap()
    .historical;
    assert_eq!(
        (h.tenure_days, h.purchases_per_month, h.profit),
        (10, 2.0, 50.0)
    );
    let mut repo = MockAnalyticsRepository::new();
    repo.expect_find_model().returning(|_| Ok(None));
    let h = service(
        repo,
        MockJobRepository::new(),
        holding(customer(0, 0, 0, None)),
    )
    .customer_analytics(&actor("viewer"), CUSTOMER, PredictionOptions::default())
    .await
    .unwrap()
    .historical;
    assert_eq!((h.average_order_value, h.tenure_days), (0.0, 0));
}

#[tokio::test]
async fn predictions_are_made_as_of_the_calibration_end_in_the_customers_currency() {
    let mut repo = MockAnalyticsRepository::new();
    repo.expect_find_model()
        .returning(|_| Ok(Some(cdnow_model())));
    repo.expect_purchase_days()
        .withf(|t, _, currency, until, customer| {
            *t == TENANT
                && currency == "USD"
                && *until == day(1997, 9, 30)
                && *customer == Some(CUSTOMER)
        })
        .times(1)
        .returning(|_, _, _, _, _| {
            Ok(vec![PurchaseHistory {
                customer_id: CUSTOMER,
                days: vec![
                    (day(1997, 1, 1), 29.33),
                    (day(1997, 1, 18), 29.73),
                    (day(1997, 8, 2), 14.96),
                ],
            }])
        });
    let p = service(
        repo,
        MockJobRepository::new(),
        holding(customer(74, 3, 300, None)),
    )
    .customer_analytics(&actor("viewer"), CUSTOMER, PredictionOptions::default())
    .await
    .unwrap()
    .prediction
    .unwrap();
    assert_eq!((p.as_of, p.summary.frequency), (day(1997, 9, 30), 2.0));
    assert!(p.probability_alive > 0.0 && p.probability_alive < 1.0);
    assert!(p.expected_purchases > 0.0);
    assert!(p.expected_order_value.is_some() && p.clv.is_some_and(|v| v > 0.0));
}

#[tokio::test]
async fn a_customer_without_a_purchase_by_the_prediction_day_has_no_prediction() {
    let asked = day(1997, 3, 1);
    let mut repo = MockAnalyticsRepository::new();
    repo.expect_find_model()
        .returning(|_| Ok(Some(cdnow_model())));
    repo.expect_purchase_days()
        .withf(move |_, _, _, until, _| *until == asked)
        .returning(|_, _, _, _, _| Ok(vec![]));
    let a = service(
        repo,
        MockJobRepository::new(),
        holding(customer(10, 1, 30, None)),
    )
    .customer_analytics(
        &actor("viewer"),
        CUSTOMER,
        PredictionOptions {
            as_of: Some(asked),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert!(a.prediction.is_none());
}

#[tokio::test]
async fn the_clv_summary_needs_a_fitted_model() {
    let mut repo = MockAnalyticsRepository::new();
    repo.expect_find_model().returning(|_| Ok(None));
    repo.expect_purchase_days().never();
    let err = service(
        repo,
        MockJobRepository::new(),
        MockCustomerRepository::new(),
    )
    .clv_summary(&actor("viewer"), PredictionOptions::default(), 10)
    .await
    .unwrap_err();
    assert_eq!(
        err,
        DomainError::NotFound {
            entity: "clv_model"
        }
    );
}

#[tokio::test]
async fn the_at_risk_list_is_the_top_revenue_quarter_least_likely_alive_first() {
    let mut repo = MockAnalyticsRepository::new();
    repo.expect_find_model()
        .returning(|_| Ok(Some(cdnow_model())));
    repo.expect_purchase_days()
        .withf(|_, _, currency, until, customer| {
            currency == "IDR" && *until == day(1997, 9, 30) && customer.is_none()
        })
        .returning(|_, _, _, _, _| Ok(cdnow_histories(day(1997, 9, 30))));
    let s = service(
        repo,
        MockJobRepository::new(),
        MockCustomerRepository::new(),
    );
    let summary = s
        .clv_summary(&actor("viewer"), PredictionOptions::default(), 1_000)
        .await
        .unwrap();
    assert_eq!(summary.customers, 2357);
    assert!(summary.expected_purchases > 0.0 && summary.expected_value > 0.0);
    // A quarter of 2,357 is 590 customers, cut to at most 100.
    assert_eq!(summary.at_risk.len(), 100);
    assert!(
        summary
            .at_risk
            .windows(2)
            .all(|w| w[0].probability_alive <= w[1].probability_alive)
    );
    let mut revenues: Vec<f64> = cdnow_histories(day(1997, 9, 30))
        .iter()
        .map(|h| h.days.iter().map(|(_, v)| v).sum())
        .collect();
    revenues.sort_by(|a, b| b.total_cmp(a));
    let quarter_floor = revenues[2357_usize.div_ceil(4) - 1];
    assert!(summary.at_risk.iter().all(|r| r.revenue >= quarter_floor));

    let few = s
        .clv_summary(&actor("viewer"), PredictionOptions::default(), 3)
        .await
        .unwrap();
    assert_eq!(few.at_risk, summary.at_risk[..3]);
}
