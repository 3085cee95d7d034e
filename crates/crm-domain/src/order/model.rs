//! The order: one purchase from a POS, shop or ERP, and the rules on its input and life cycle.

use chrono::{DateTime, Duration, Utc};
use rust_decimal::Decimal;
use serde_json::{Map, Value};

use crate::error::FieldError;
use crate::ids::{CustomerId, OrderId, TenantId, UserId};
use crate::values::{
    AMOUNT_SCALE, Amount, AmountError, CurrencyCode, QUANTITY_RULE, TextKind, check_json_text,
    check_text, valid_quantity,
};

string_enum!(
    /// Where an order is in its life. `pending → completed | cancelled`,
    /// `completed → refunded`; `cancelled` and `refunded` are final. Only `completed` orders count
    /// in a customer's statistics and earn points.
    OrderStatus {
        /// Placed, not yet fulfilled.
        Pending => "pending",
        /// Fulfilled: counts and earns points.
        Completed => "completed",
        /// Called off.
        Cancelled => "cancelled",
        /// Paid back after completion.
        Refunded => "refunded",
    }
);

string_enum!(
    /// Payment state. `overdue` is never stored: an unpaid completed order past `due_at` is
    /// reported as overdue.
    PaymentStatus {
        /// Not paid.
        Unpaid => "unpaid",
        /// Paid.
        Paid => "paid",
        /// Unpaid past its due date (derived).
        Overdue => "overdue",
    }
);

impl OrderStatus {
    /// Whether an order may go from `self` to `to` (staying put is always allowed).
    pub fn can_become(self, to: OrderStatus) -> bool {
        use OrderStatus::*;
        self == to
            || matches!(
                (self, to),
                (Pending, Completed) | (Pending, Cancelled) | (Completed, Refunded)
            )
    }
}

/// One line of an order. `line_total = quantity × unit_price` exactly (4 decimals).
#[derive(Debug, Clone, PartialEq)]
pub struct OrderLine {
    /// Product code.
    pub sku: String,
    /// Product name.
    pub name: Option<String>,
    /// Quantity, > 0, at most 4 decimals.
    pub quantity: Decimal,
    /// Price of one unit.
    pub unit_price: Amount,
    /// `quantity × unit_price`.
    pub line_total: Amount,
}

/// An order as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Order {
    /// Id (UUID v7).
    pub id: OrderId,
    /// Tenant.
    pub tenant_id: TenantId,
    /// Customer (same tenant).
    pub customer_id: CustomerId,
    /// The caller's id for the order, unique per tenant: re-sending it changes nothing.
    pub order_ref: String,
    /// When the purchase happened.
    pub placed_at: DateTime<Utc>,
    /// Life-cycle state.
    pub status: OrderStatus,
    /// Stored payment state: `unpaid` or `paid`.
    pub payment_status: PaymentStatus,
    /// `placed_at` + the customer's payment terms.
    pub due_at: DateTime<Utc>,
    /// The customer's currency.
    pub currency: CurrencyCode,
    /// Amount of the order.
    pub total_amount: Amount,
    /// Lines (optional); they add up to `total_amount`.
    pub lines: Vec<OrderLine>,
    /// Sales channel (`pos`, `web`, ...).
    pub channel: Option<String>,
    /// Free-form JSON object.
    pub metadata: Map<String, Value>,
    /// Points this order earned on completion (reversed exactly on cancel or refund).
    pub points_earned: i64,
    /// Who recorded it.
    pub created_by: Option<UserId>,
    /// When it was recorded.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
    /// Optimistic-concurrency version.
    pub version: i64,
}

impl Order {
    /// The payment state to report at `now`: `overdue` for an unpaid completed order past its
    /// due date.
    pub fn payment_status_at(&self, now: DateTime<Utc>) -> PaymentStatus {
        if self.payment_status == PaymentStatus::Unpaid
            && self.status == OrderStatus::Completed
            && self.due_at < now
        {
            PaymentStatus::Overdue
        } else {
            self.payment_status
        }
    }

    /// Whether the order is still open: pending, or completed and unpaid.
    pub fn is_open(&self) -> bool {
        self.status == OrderStatus::Pending
            || (self.status == OrderStatus::Completed && self.payment_status != PaymentStatus::Paid)
    }

    /// Where the order stands in an order list (newest `placed_at` first, ties by id): the
    /// next page starts after it.
    pub fn position(&self) -> OrderPosition {
        (self.placed_at, self.id)
    }
}

/// The keyset of order lists: `placed_at` and id.
pub type OrderPosition = (DateTime<Utc>, OrderId);

/// One submitted order line.
#[derive(Debug, Clone, Default, PartialEq)]
#[allow(missing_docs)] // documented on OrderLine
pub struct OrderLineInput {
    pub sku: Option<String>,
    pub name: Option<String>,
    pub quantity: Option<Decimal>,
    pub unit_price: Option<Decimal>,
    pub line_total: Option<Decimal>,
}

/// An order as submitted. Defaults: `order_ref` generated (then re-sending is not
/// idempotent), `placed_at` now, `status` completed, `payment_status` paid, `currency` the
/// customer's, `total_amount` the sum of the lines.
#[derive(Debug, Clone, Default, PartialEq)]
#[allow(missing_docs)] // documented on Order
pub struct OrderInput {
    pub order_ref: Option<String>,
    pub placed_at: Option<DateTime<Utc>>,
    pub status: Option<OrderStatus>,
    pub payment_status: Option<PaymentStatus>,
    pub currency: Option<String>,
    pub total_amount: Option<Decimal>,
    pub lines: Option<Vec<OrderLineInput>>,
    pub channel: Option<String>,
    pub metadata: Option<Value>,
}

/// A validated order input.
#[derive(Debug, Clone, PartialEq)]
pub struct ValidOrder {
    /// Given ref, or `None` to generate one.
    pub order_ref: Option<String>,
    /// When placed.
    pub placed_at: DateTime<Utc>,
    /// Initial status.
    pub status: OrderStatus,
    /// Initial payment status (`unpaid` or `paid`).
    pub payment_status: PaymentStatus,
    /// Total.
    pub total_amount: Amount,
    /// Lines.
    pub lines: Vec<OrderLine>,
    /// Channel.
    pub channel: Option<String>,
    /// Metadata.
    pub metadata: Map<String, Value>,
}

fn amount(field: &str, value: Decimal, errors: &mut Vec<FieldError>) -> Option<Amount> {
    match Amount::new(value) {
        Ok(a) => Some(a),
        Err(AmountError::TooLarge) => {
            errors.push(FieldError::new(
                field,
                "out_of_range",
                format!("must be at most {}", Amount::MAX_UNITS),
            ));
            None
        }
        Err(_) => {
            errors.push(FieldError::new(
                field,
                "invalid_amount",
                "must be ≥ 0 with at most 4 decimals",
            ));
            None
        }
    }
}

impl OrderInput {
    /// Checks the order against its customer: the currency must be the customer's (statistics
    /// are sums in one currency); the order may not be placed more than 5 minutes in the
    /// future; an initial status is `pending` or `completed`, a payment status `unpaid` or
    /// `paid`; lines have a SKU, a quantity > 0 and a price, each `line_total` (when given)
    /// equals `quantity × unit_price`, and `total_amount` (when given) equals their sum; without
    /// lines `total_amount` is required. At most 1,000 lines.
    ///
    /// # Errors
    /// Every broken rule as a [`FieldError`].
    pub fn validate(
        self,
        customer_currency: CurrencyCode,
        now: DateTime<Utc>,
    ) -> Result<ValidOrder, Vec<FieldError>> {
        let mut errors = self.text_errors();
        let order_ref = self
            .order_ref
            .map(|r| r.trim().to_owned())
            .filter(|r| !r.is_empty());
        if order_ref.as_ref().is_some_and(|r| r.chars().count() > 100) {
            errors.push(FieldError::new(
                "order_ref",
                "too_long",
                "must be at most 100 characters",
            ));
        }
        let placed_at = crate::ports::truncate_to_micros(self.placed_at.unwrap_or(now));
        if placed_at > now + Duration::minutes(5) {
            errors.push(FieldError::new(
                "placed_at",
                "in_future",
                "an order cannot be placed in the future",
            ));
        }
        let status = self.status.unwrap_or(OrderStatus::Completed);
        if !matches!(status, OrderStatus::Pending | OrderStatus::Completed) {
            errors.push(FieldError::new(
                "status",
                "invalid",
                "a new order is pending or completed",
            ));
        }
        let payment_status = self.payment_status.unwrap_or(PaymentStatus::Paid);
        if payment_status == PaymentStatus::Overdue {
            errors.push(FieldError::new(
                "payment_status",
                "invalid",
                "overdue is derived from due_at; send unpaid",
            ));
        }
        if let Some(c) = self.currency.as_deref()
            && CurrencyCode::parse(c) != Some(customer_currency)
        {
            errors.push(FieldError::new(
                "currency",
                "currency_mismatch",
                format!("orders of this customer are in {customer_currency}"),
            ));
        }
        let raw_lines = self.lines.unwrap_or_default();
        if raw_lines.len() > 1000 {
            errors.push(FieldError::new("lines", "too_many", "at most 1000 lines"));
        }
        let mut lines = Vec::with_capacity(raw_lines.len());
        for (i, l) in raw_lines.into_iter().enumerate() {
            let f = |name: &str| format!("lines[{i}].{name}");
            let sku = l
                .sku
                .map(|s| s.trim().to_owned())
                .filter(|s| !s.is_empty() && s.chars().count() <= 100);
            if sku.is_none() {
                errors.push(FieldError::new(f("sku"), "required", "1..=100 characters"));
            }
            let quantity = l.quantity.filter(|q| valid_quantity(*q));
            if quantity.is_none() {
                errors.push(FieldError::new(f("quantity"), "invalid", QUANTITY_RULE));
            }
            let unit_price = match l.unit_price {
                Some(p) => amount(&f("unit_price"), p, &mut errors),
                None => {
                    errors.push(FieldError::new(
                        f("unit_price"),
                        "required",
                        "unit_price is required",
                    ));
                    None
                }
            };
            let (Some(sku), Some(quantity), Some(unit_price)) = (sku, quantity, unit_price) else {
                continue;
            };
            let Some(exact) = quantity.checked_mul(unit_price.value()) else {
                errors.push(FieldError::new(
                    f("quantity"),
                    "out_of_range",
                    "quantity × unit_price is too large",
                ));
                continue;
            };
            let Some(line_total) =
                amount(&f("line_total"), exact.round_dp(AMOUNT_SCALE), &mut errors)
            else {
                continue;
            };
            if l.line_total
                .is_some_and(|given| given.normalize() != line_total.value())
            {
                errors.push(FieldError::new(
                    f("line_total"),
                    "mismatch",
                    format!("quantity × unit_price is {line_total}"),
                ));
            }
            let name = l
                .name
                .map(|n| n.trim().chars().take(255).collect::<String>())
                .filter(|n| !n.is_empty());
            lines.push(OrderLine {
                sku,
                name,
                quantity: quantity.normalize(),
                unit_price,
                line_total,
            });
        }
        // At most 1,000 lines of at most `Amount::MAX_UNITS` each: the sum fits a Decimal, and
        // checked addition keeps that true whatever the limits become.
        let lines_sum = lines.iter().try_fold(Decimal::ZERO, |sum, l| {
            sum.checked_add(l.line_total.value())
        });
        let Some(lines_sum) = lines_sum else {
            errors.push(FieldError::new(
                "total_amount",
                "out_of_range",
                format!("the lines add up to more than {}", Amount::MAX_UNITS),
            ));
            return Err(errors);
        };
        let total_amount = match (self.total_amount, lines.is_empty()) {
            (Some(t), _) => {
                let total = amount("total_amount", t, &mut errors);
                if !lines.is_empty() && total.is_some_and(|t| t.value() != lines_sum) {
                    errors.push(FieldError::new(
                        "total_amount",
                        "mismatch",
                        format!("the lines add up to {lines_sum}"),
                    ));
                }
                total
            }
            (None, false) => amount("total_amount", lines_sum, &mut errors),
            (None, true) => {
                errors.push(FieldError::new(
                    "total_amount",
                    "required",
                    "total_amount or lines are required",
                ));
                None
            }
        };
        let channel = self
            .channel
            .map(|c| c.trim().to_lowercase())
            .filter(|c| !c.is_empty());
        if channel.as_ref().is_some_and(|c| c.chars().count() > 50) {
            errors.push(FieldError::new(
                "channel",
                "too_long",
                "must be at most 50 characters",
            ));
        }
        let metadata = match self.metadata {
            None | Some(Value::Null) => Map::new(),
            Some(Value::Object(m)) => m,
            Some(_) => {
                errors.push(FieldError::new(
                    "metadata",
                    "not_an_object",
                    "must be a JSON object",
                ));
                Map::new()
            }
        };
        match (total_amount, errors.is_empty()) {
            (Some(total_amount), true) => Ok(ValidOrder {
                order_ref,
                placed_at,
                status,
                payment_status,
                total_amount,
                lines,
                channel,
                metadata,
            }),
            _ => Err(errors),
        }
    }
}

impl OrderInput {
    /// The text rule ([`check_text`]) on every text of the order: `order_ref`, `currency`,
    /// `channel`, each line's `sku` and `name` (single-line) and `metadata` (keys single-line,
    /// string values multi-line). Checked before the ref is looked up, so storage never sees
    /// a NUL.
    pub fn text_errors(&self) -> Vec<FieldError> {
        let single = [
            ("order_ref", &self.order_ref),
            ("currency", &self.currency),
            ("channel", &self.channel),
        ];
        let mut errors: Vec<FieldError> = single
            .into_iter()
            .filter_map(|(field, v)| check_text(field, v.as_deref()?, TextKind::SingleLine).err())
            .collect();
        for (i, l) in self.lines.iter().flatten().enumerate() {
            for (name, v) in [("sku", &l.sku), ("name", &l.name)] {
                if let Some(v) = v.as_deref()
                    && let Err(e) =
                        check_text(&format!("lines[{i}].{name}"), v, TextKind::SingleLine)
                {
                    errors.push(e);
                }
            }
        }
        if let Some(m) = &self.metadata
            && let Err(e) = check_json_text("metadata", m)
        {
            errors.push(e);
        }
        errors
    }
}

/// `total_spent / total_orders`, truncated to 4 decimals (ten-thousandths); zero without orders.
/// The tenant-wide recompute computes the same with integer division of the stored amounts.
pub fn average_order_value(total_spent: Amount, total_orders: i64) -> Amount {
    if total_orders <= 0 {
        return Amount::ZERO;
    }
    Amount::from_scaled(total_spent.to_scaled() / total_orders)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn idr() -> CurrencyCode {
        CurrencyCode::parse("IDR").unwrap()
    }

    fn d(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    fn line(sku: &str, q: &str, p: &str) -> OrderLineInput {
        OrderLineInput {
            sku: Some(sku.into()),
            quantity: Some(d(q)),
            unit_price: Some(d(p)),
            ..Default::default()
        }
    }

    fn fields(input: OrderInput) -> Vec<String> {
        input
            .validate(idr(), Utc::now())
            .unwrap_err()
            .into_iter()
            .map(|e| e.field)
            .collect()
    }

    #[test]
    fn control_characters_in_order_texts_are_refused() {
        let o = OrderInput {
            order_ref: Some("INV\u{0}1".into()),
            channel: Some("web\n".into()),
            lines: Some(vec![OrderLineInput {
                name: Some("Kopi\u{0}".into()),
                ..line("S\u{1}", "1", "10")
            }]),
            metadata: Some(serde_json::json!({"k": "\u{0}"})),
            ..Default::default()
        };
        let got = fields(o);
        for f in ["order_ref", "lines[0].sku", "lines[0].name", "metadata.k"] {
            assert!(got.contains(&f.to_owned()), "{f}: {got:?}");
        }
    }

    #[test]
    fn a_bare_total_is_a_completed_paid_order_now() {
        let o = OrderInput {
            total_amount: Some(d("150000")),
            ..Default::default()
        }
        .validate(idr(), Utc::now())
        .unwrap();
        assert_eq!(
            (o.status, o.payment_status),
            (OrderStatus::Completed, PaymentStatus::Paid)
        );
        assert_eq!(o.total_amount.value(), d("150000"));
    }

    #[test]
    fn lines_must_add_up_to_the_total() {
        let ok = OrderInput {
            lines: Some(vec![line("A", "2", "1500.5"), line("B", "0.25", "100")]),
            ..Default::default()
        };
        assert_eq!(
            ok.validate(idr(), Utc::now()).unwrap().total_amount.value(),
            d("3026")
        );
        let wrong = OrderInput {
            total_amount: Some(d("3000")),
            lines: Some(vec![line("A", "2", "1500.5")]),
            ..Default::default()
        };
        assert_eq!(fields(wrong), vec!["total_amount"]);
        let mut bad_line = line("A", "2", "10");
        bad_line.line_total = Some(d("21"));
        assert_eq!(
            fields(OrderInput {
                lines: Some(vec![bad_line]),
                ..Default::default()
            }),
            vec!["lines[0].line_total"]
        );
    }

    #[test]
    fn an_order_needs_a_total_or_lines() {
        assert_eq!(fields(OrderInput::default()), vec!["total_amount"]);
    }

    #[test]
    fn the_currency_must_be_the_customers() {
        let usd = OrderInput {
            total_amount: Some(d("1")),
            currency: Some("USD".into()),
            ..Default::default()
        };
        assert_eq!(fields(usd), vec!["currency"]);
    }

    #[test]
    fn new_orders_are_pending_or_completed_and_not_in_the_future() {
        let refunded = OrderInput {
            total_amount: Some(d("1")),
            status: Some(OrderStatus::Refunded),
            ..Default::default()
        };
        assert_eq!(fields(refunded), vec!["status"]);
        let future = OrderInput {
            total_amount: Some(d("1")),
            placed_at: Some(Utc::now() + Duration::hours(1)),
            ..Default::default()
        };
        assert_eq!(fields(future), vec!["placed_at"]);
    }

    #[test]
    fn status_transitions_follow_the_life_cycle() {
        use OrderStatus::*;
        assert!(
            Pending.can_become(Completed)
                && Pending.can_become(Cancelled)
                && Completed.can_become(Refunded)
        );
        assert!(
            !Completed.can_become(Pending)
                && !Cancelled.can_become(Completed)
                && !Refunded.can_become(Completed)
        );
    }

    #[test]
    fn average_order_value_truncates_to_ten_thousandths() {
        let total = Amount::new(d("100")).unwrap();
        assert_eq!(average_order_value(total, 3).value(), d("33.3333"));
        assert_eq!(average_order_value(total, 0), Amount::ZERO);
    }
}
