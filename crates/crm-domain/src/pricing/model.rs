//! The pricing rules: quotes with a discount, rounding to the currency's minor unit, and the
//! credit-limit rule. Pure functions with exact decimal arithmetic.

use rust_decimal::{Decimal, RoundingStrategy};

use crate::error::FieldError;
use crate::values::{Amount, CurrencyCode, QUANTITY_RULE, valid_quantity};

/// Rounds to the currency's minor unit (ISO 4217 exponent: 2 for IDR and USD, 0 for JPY),
/// half away from zero, and keeps exactly that many decimals.
pub fn round_to_minor_unit(value: Decimal, currency: CurrencyCode) -> Decimal {
    let digits = u32::from(currency.minor_unit_digits());
    let mut rounded = value.round_dp_with_strategy(digits, RoundingStrategy::MidpointAwayFromZero);
    // Always show the minor unit: 5000 IDR is 5000.00.
    rounded.rescale(digits);
    rounded
}

/// One line to price.
#[derive(Debug, Clone, PartialEq)]
pub struct QuoteLineInput {
    /// Product code, 1..=100 characters.
    pub sku: String,
    /// Quantity, > 0, at most 4 decimals.
    pub quantity: Decimal,
    /// Price of one unit before discount.
    pub unit_price: Amount,
}

/// One priced line. `subtotal = quantity × unit_price`, `discount = subtotal × percent / 100`,
/// `total = subtotal − discount`, each rounded to the currency's minor unit.
#[derive(Debug, Clone, PartialEq)]
pub struct QuotedLine {
    /// Product code.
    pub sku: String,
    /// Quantity.
    pub quantity: Decimal,
    /// Unit price.
    pub unit_price: Decimal,
    /// Before discount.
    pub subtotal: Decimal,
    /// Discount amount.
    pub discount: Decimal,
    /// After discount.
    pub total: Decimal,
}

/// A price quote: the lines and their sums.
#[derive(Debug, Clone, PartialEq)]
pub struct Quote {
    /// Currency of every amount.
    pub currency: CurrencyCode,
    /// Percent applied to every line.
    pub discount_percent: Decimal,
    /// Priced lines.
    pub lines: Vec<QuotedLine>,
    /// Σ line subtotals.
    pub subtotal: Decimal,
    /// Σ line discounts.
    pub discount: Decimal,
    /// Σ line totals.
    pub total: Decimal,
}

/// Prices `lines` at `discount_percent` (0..=100) in `currency`.
///
/// # Errors
/// Field errors (`lines`, `lines[i].sku`, `lines[i].quantity`) for an empty quote, more than 500
/// lines, an empty SKU or a quantity that is not positive with at most 4 decimals.
pub fn quote(
    lines: &[QuoteLineInput],
    discount_percent: Decimal,
    currency: CurrencyCode,
) -> Result<Quote, Vec<FieldError>> {
    let mut errors = Vec::new();
    if lines.is_empty() || lines.len() > 500 {
        errors.push(FieldError::new(
            "lines",
            "out_of_range",
            "a quote has 1..=500 lines",
        ));
    }
    let hundred = Decimal::ONE_HUNDRED;
    let mut out = Vec::with_capacity(lines.len());
    for (i, line) in lines.iter().enumerate() {
        let sku = line.sku.trim();
        if sku.is_empty() || sku.chars().count() > 100 {
            errors.push(FieldError::new(
                format!("lines[{i}].sku"),
                "required",
                "1..=100 characters",
            ));
        } else if let Err(e) = crate::values::check_text(
            &format!("lines[{i}].sku"),
            sku,
            crate::values::TextKind::SingleLine,
        ) {
            errors.push(e);
        }
        if !valid_quantity(line.quantity) {
            errors.push(FieldError::new(
                format!("lines[{i}].quantity"),
                "invalid",
                QUANTITY_RULE,
            ));
            continue;
        }
        // Bounded quantity and unit price keep these far inside Decimal; checked all the same.
        let priced = line
            .quantity
            .checked_mul(line.unit_price.value())
            .map(|s| round_to_minor_unit(s, currency))
            .and_then(|subtotal| {
                let discount = subtotal
                    .checked_mul(discount_percent)
                    .and_then(|d| d.checked_div(hundred))
                    .map(|d| round_to_minor_unit(d, currency))?;
                Some((subtotal, discount, subtotal.checked_sub(discount)?))
            });
        let Some((subtotal, discount, total)) = priced else {
            errors.push(FieldError::new(
                format!("lines[{i}].quantity"),
                "out_of_range",
                "quantity × unit_price is too large",
            ));
            continue;
        };
        out.push(QuotedLine {
            sku: sku.to_owned(),
            quantity: line.quantity.normalize(),
            unit_price: line.unit_price.value(),
            subtotal,
            discount,
            total,
        });
    }
    let sum = |f: fn(&QuotedLine) -> Decimal| {
        out.iter()
            .try_fold(Decimal::ZERO, |sum, l| sum.checked_add(f(l)))
    };
    let (Some(subtotal), Some(discount), Some(total)) =
        (sum(|l| l.subtotal), sum(|l| l.discount), sum(|l| l.total))
    else {
        errors.push(FieldError::new(
            "lines",
            "out_of_range",
            "the lines add up to more than a quote can hold",
        ));
        return Err(errors);
    };
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(Quote {
        currency,
        discount_percent,
        subtotal,
        discount,
        total,
        lines: out,
    })
}

/// Why an order was refused by the credit rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CreditExceeded {
    /// The customer's credit limit.
    pub limit: Amount,
    /// Unpaid completed orders before this one.
    pub outstanding: Amount,
    /// This order's amount.
    pub requested: Amount,
}

/// The credit rule: with a credit limit above zero, unpaid completed orders plus `requested`
/// must not exceed it. A limit of zero means no limit.
///
/// # Errors
/// [`CreditExceeded`] with the figures.
pub fn check_credit(
    limit: Amount,
    outstanding: Amount,
    requested: Amount,
) -> Result<(), CreditExceeded> {
    if limit.value().is_zero()
        || outstanding
            .value()
            .checked_add(requested.value())
            .is_some_and(|owed| owed <= limit.value())
    {
        Ok(())
    } else {
        Err(CreditExceeded {
            limit,
            outstanding,
            requested,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    fn a(s: &str) -> Amount {
        Amount::new(d(s)).unwrap()
    }

    fn idr() -> CurrencyCode {
        CurrencyCode::parse("IDR").unwrap()
    }

    #[test]
    fn a_quote_applies_the_discount_per_line_and_rounds_to_the_minor_unit() {
        let lines = vec![
            QuoteLineInput {
                sku: "A".into(),
                quantity: d("3"),
                unit_price: a("33333.335"),
            },
            QuoteLineInput {
                sku: "B".into(),
                quantity: d("0.5"),
                unit_price: a("10001"),
            },
        ];
        let q = quote(&lines, d("10"), idr()).unwrap();
        // 3 × 33,333.335 = 100,000.005 → 100,000.01; 10% → 10,000.00 (10,000.001 rounded).
        assert_eq!(
            (q.lines[0].subtotal, q.lines[0].discount, q.lines[0].total),
            (d("100000.01"), d("10000.00"), d("90000.01"))
        );
        // 0.5 × 10,001 = 5,000.50; 10% = 500.05.
        assert_eq!(q.lines[1].total, d("4500.45"));
        assert_eq!(
            (q.subtotal, q.discount, q.total),
            (d("105000.51"), d("10500.05"), d("94500.46"))
        );
    }

    #[test]
    fn currencies_without_minor_units_round_to_whole_numbers() {
        let jpy = CurrencyCode::parse("JPY").unwrap();
        let lines = vec![QuoteLineInput {
            sku: "A".into(),
            quantity: d("1"),
            unit_price: a("105"),
        }];
        let q = quote(&lines, d("15"), jpy).unwrap();
        assert_eq!((q.discount, q.total), (d("16"), d("89")));
    }

    #[test]
    fn a_quote_needs_lines_with_positive_quantities() {
        assert_eq!(
            quote(&[], Decimal::ZERO, idr()).unwrap_err()[0].field,
            "lines"
        );
        let bad = vec![QuoteLineInput {
            sku: " ".into(),
            quantity: d("0"),
            unit_price: a("1"),
        }];
        let fields: Vec<_> = quote(&bad, Decimal::ZERO, idr())
            .unwrap_err()
            .into_iter()
            .map(|e| e.field)
            .collect();
        assert_eq!(fields, vec!["lines[0].sku", "lines[0].quantity"]);
    }

    #[test]
    fn a_quantity_beyond_the_maximum_is_refused_not_a_panic() {
        let line = |q: &str| QuoteLineInput {
            sku: "A".into(),
            quantity: d(q),
            unit_price: Amount::new(Decimal::from(Amount::MAX_UNITS)).unwrap(),
        };
        let err = quote(&[line("99999999999999999999")], d("10"), idr()).unwrap_err();
        assert_eq!(err[0].field, "lines[0].quantity");
        // The largest quantity at the largest price still prices exactly.
        let q = quote(&[line("1000000000"), line("1000000000")], d("10"), idr()).unwrap();
        assert_eq!(q.subtotal, d("1844674407370954000000000.00"));
    }

    #[test]
    fn credit_is_unlimited_at_zero_and_inclusive_at_the_limit() {
        assert!(check_credit(Amount::ZERO, a("999999"), a("1")).is_ok());
        assert!(check_credit(a("1000"), a("600"), a("400")).is_ok());
        let err = check_credit(a("1000"), a("600"), a("400.01")).unwrap_err();
        assert_eq!((err.outstanding, err.requested), (a("600"), a("400.01")));
    }
}
