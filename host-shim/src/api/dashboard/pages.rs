//! Dashboard's pagination: `?p=N` picks page N (from 1) of [`PAGE_SIZE`] items, `p` ≤ 0 all
//! of them, and every list answer says how many `pages` there are. Without `p`, the first
//! page, as Dashboard answers.

use super::error::DashboardError;

/// Dashboard's default `page_size`.
pub const PAGE_SIZE: usize = 10;

/// Which page a request asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Page {
    All,
    /// From 1.
    Number(usize),
}

impl Page {
    /// `?p=`: absent or empty is page 1; anything but an integer is refused.
    pub fn parse(p: Option<&str>) -> Result<Self, DashboardError> {
        let p = p.map(str::trim).filter(|p| !p.is_empty());
        let Some(p) = p else {
            return Ok(Page::Number(1));
        };
        let number: i64 = p.parse().map_err(|_| {
            DashboardError::bad_request(format!(
                "p must be a page number (1 for the first, 0 or less for all), not {p:?}"
            ))
        })?;
        Ok(match usize::try_from(number) {
            Ok(0) | Err(_) => Page::All,
            Ok(number) => Page::Number(number),
        })
    }

    /// The items of this page, and how many pages `items` makes (0 when it is empty).
    pub fn of<T>(self, items: Vec<T>) -> (Vec<T>, usize) {
        let pages = items.len().div_ceil(PAGE_SIZE);
        let items = match self {
            Page::All => items,
            Page::Number(number) => {
                let skip = (number - 1).saturating_mul(PAGE_SIZE);
                items.into_iter().skip(skip).take(PAGE_SIZE).collect()
            }
        };
        (items, pages)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_of_ten_from_one_and_zero_or_less_for_all() {
        let items: Vec<u32> = (1..=23).collect();
        let page = |p: Option<&str>| Page::parse(p).unwrap().of(items.clone());
        assert_eq!(page(None), ((1..=10).collect(), 3));
        assert_eq!(page(Some("")), ((1..=10).collect(), 3));
        assert_eq!(page(Some("3")), (vec![21, 22, 23], 3));
        assert_eq!(page(Some("4")), (vec![], 3));
        assert_eq!(page(Some("0")), (items.clone(), 3));
        assert_eq!(page(Some("-1")), (items.clone(), 3));
        assert!(page(Some("9223372036854775807")).0.is_empty());
        assert!(Page::parse(Some("two")).is_err());
        assert_eq!(Page::Number(1).of(Vec::<u32>::new()), (vec![], 0));
    }
}
