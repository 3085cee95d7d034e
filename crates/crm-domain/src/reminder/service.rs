//! The reminder run.

use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::model::{follow_up_due_event, order_overdue_event};
use super::ports::ReminderRepository;
use crate::error::DomainError;

/// Rows one run takes of each kind, at most (a backlog is worked off over several runs).
pub const DEFAULT_REMINDER_BATCH: u32 = 500;

/// What one [`ReminderService::run`] emitted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReminderRun {
    /// `follow_up.due` events.
    pub follow_ups_due: usize,
    /// `order.overdue` events.
    pub orders_overdue: usize,
}

/// Emits reminders; the server calls [`ReminderService::run`] on a timer (every replica may:
/// the database decides who emits what, see the module doc).
pub struct ReminderService {
    repo: Arc<dyn ReminderRepository>,
}

impl ReminderService {
    /// Wires the service.
    pub fn new(repo: Arc<dyn ReminderRepository>) -> Self {
        Self { repo }
    }

    /// One run at `now`: takes up to `limit` due follow-ups and up to `limit` overdue orders,
    /// and appends one `follow_up.due` / `order.overdue` event for each, in one transaction
    /// with their marks (all or nothing).
    ///
    /// # Errors
    /// [`DomainError::Unavailable`] / [`DomainError::Internal`] from storage; nothing is
    /// marked then, and the next run tries again.
    #[tracing::instrument(name = "ReminderService::run", skip_all)]
    pub async fn run(&self, now: DateTime<Utc>, limit: u32) -> Result<ReminderRun, DomainError> {
        let mut tx = self.repo.begin().await?;
        let follow_ups = tx.take_due_follow_ups(now, limit).await?;
        let orders = tx.take_overdue_orders(now, limit).await?;
        let events: Vec<_> = follow_ups
            .iter()
            .map(|f| follow_up_due_event(f, now))
            .chain(orders.iter().map(|o| order_overdue_event(o, now)))
            .collect();
        if events.is_empty() {
            // Nothing taken, nothing to commit: the transaction is dropped.
            return Ok(ReminderRun::default());
        }
        tx.append_events(&events).await?;
        tx.commit().await?;
        Ok(ReminderRun {
            follow_ups_due: follow_ups.len(),
            orders_overdue: orders.len(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::NewEvent;
    use crate::ids::{CustomerId, TenantId};
    use crate::reminder::{
        DueFollowUp, MockReminderRepository, MockReminderTransaction, OverdueOrder,
    };
    use crate::testing::{TENANT, now};
    use crate::values::{Amount, CurrencyCode};
    use rust_decimal::Decimal;
    use std::sync::Mutex;
    use uuid::Uuid;

    fn follow_up(tenant: TenantId) -> DueFollowUp {
        DueFollowUp {
            tenant_id: tenant,
            id: Uuid::from_u128(1),
            customer_id: CustomerId(Uuid::from_u128(2)),
            title: "Call back".into(),
            due_at: now() - chrono::Duration::minutes(1),
            assignee: "u-1".into(),
            priority: "high".into(),
        }
    }

    fn order() -> OverdueOrder {
        OverdueOrder {
            tenant_id: TENANT,
            id: Uuid::from_u128(3),
            customer_id: CustomerId(Uuid::from_u128(4)),
            order_ref: "INV-7".into(),
            placed_at: now() - chrono::Duration::days(40),
            due_at: now() - chrono::Duration::days(10),
            total_amount: Amount::new(Decimal::new(150_000, 2)).unwrap(),
            currency: CurrencyCode::parse("IDR").unwrap(),
        }
    }

    fn repo(tx: MockReminderTransaction) -> ReminderService {
        let mut repo = MockReminderRepository::new();
        let tx = Mutex::new(Some(tx));
        repo.expect_begin()
            .times(1)
            .returning(move || Ok(Box::new(tx.lock().unwrap().take().unwrap())));
        ReminderService::new(Arc::new(repo))
    }

    #[tokio::test]
    async fn due_rows_become_events_committed_with_their_marks() {
        let other = TenantId(Uuid::from_u128(77));
        let mut tx = MockReminderTransaction::new();
        tx.expect_take_due_follow_ups()
            .withf(|at, limit| *at == now() && *limit == 10)
            .returning(move |_, _| Ok(vec![follow_up(TENANT), follow_up(other)]));
        tx.expect_take_overdue_orders()
            .returning(|_, _| Ok(vec![order()]));
        let seen: Arc<Mutex<Vec<NewEvent>>> = Arc::default();
        let sink = seen.clone();
        tx.expect_append_events().times(1).returning(move |e| {
            sink.lock().unwrap().extend_from_slice(e);
            Ok(())
        });
        tx.expect_commit().times(1).returning(|| Ok(()));
        let run = repo(tx).run(now(), 10).await.unwrap();
        assert_eq!(
            run,
            ReminderRun {
                follow_ups_due: 2,
                orders_overdue: 1
            }
        );
        let events = seen.lock().unwrap();
        let types: Vec<_> = events.iter().map(|e| e.event_type.as_str()).collect();
        assert_eq!(types, ["follow_up.due", "follow_up.due", "order.overdue"]);
        assert_eq!(
            events[1].tenant_id, other,
            "each event is its record's tenant's"
        );
        assert_eq!(events[0].actor.sub, "system");
        assert_eq!(events[0].data["title"], "Call back");
        assert_eq!(events[2].data["total_amount"], "1500");
        assert_eq!(events[2].data["payment_status"], "overdue");
        assert_eq!(events[2].customer_id, Some(CustomerId(Uuid::from_u128(4))));
    }

    #[tokio::test]
    async fn a_run_with_nothing_due_commits_nothing() {
        let mut tx = MockReminderTransaction::new();
        tx.expect_take_due_follow_ups().returning(|_, _| Ok(vec![]));
        tx.expect_take_overdue_orders().returning(|_, _| Ok(vec![]));
        tx.expect_append_events().never();
        tx.expect_commit().never();
        assert_eq!(
            repo(tx).run(now(), 10).await.unwrap(),
            ReminderRun::default()
        );
    }

    #[tokio::test]
    async fn a_failed_append_commits_no_mark() {
        let mut tx = MockReminderTransaction::new();
        tx.expect_take_due_follow_ups()
            .returning(|_, _| Ok(vec![follow_up(TENANT)]));
        tx.expect_take_overdue_orders().returning(|_, _| Ok(vec![]));
        tx.expect_append_events()
            .returning(|_| Err(crate::RepositoryError::Unavailable("down".into())));
        tx.expect_commit().never();
        assert!(matches!(
            repo(tx).run(now(), 10).await,
            Err(DomainError::Unavailable(_))
        ));
    }
}
