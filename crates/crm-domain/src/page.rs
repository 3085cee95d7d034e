//! One page of a keyset-paged list, shared by every context that lists (customers, orders).

/// One page of a list: the rows, where the next page starts, and the number of matching rows
/// when it was asked for.
///
/// `P` is the list's position (its keyset): a customer list's sort values and id
/// ([`crate::customer::Position`]), an order list's `placed_at` and id
/// ([`crate::order::OrderPosition`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T, P> {
    /// The rows.
    pub items: Vec<T>,
    /// Where the next page starts (the last row's position); `None` on the last page.
    pub next: Option<P>,
    /// Exact number of matching rows, when asked for.
    pub total: Option<u64>,
}

impl<T, P> Page<T, P> {
    /// The page of `limit` rows out of `rows`, a read of up to `limit + 1` rows: the extra row
    /// only tells that a next page exists, which then starts after the last row kept
    /// (`position` of it).
    pub fn from_probe(mut rows: Vec<T>, limit: u32, position: impl FnOnce(&T) -> P) -> Self {
        let limit = limit as usize;
        let next = if rows.len() > limit {
            rows.truncate(limit);
            rows.last().map(position)
        } else {
            None
        };
        Self {
            items: rows,
            next,
            total: None,
        }
    }

    /// Whether a next page exists.
    pub fn has_more(&self) -> bool {
        self.next.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_probe_beyond_the_limit_has_a_next_page_after_the_last_row_kept() {
        let page = Page::from_probe(vec![1, 2, 3], 2, |n| n * 10);
        assert_eq!(
            page,
            Page {
                items: vec![1, 2],
                next: Some(20),
                total: None
            }
        );
        assert!(page.has_more());
    }

    #[test]
    fn a_probe_within_the_limit_is_the_last_page() {
        for rows in [vec![], vec![1], vec![1, 2]] {
            let page = Page::from_probe(rows.clone(), 2, |n| n * 10);
            assert_eq!(page.items, rows);
            assert_eq!(page.next, None);
            assert!(!page.has_more());
        }
    }
}
