//! Cursor pagination: lists are ordered by id (UUIDv7, so by creation time) and a cursor is
//! the last id of the previous page.

use uuid::Uuid;

/// Which page to read.
#[derive(Debug, Clone, Copy)]
pub struct Page {
    /// How many items, at most.
    pub limit: u32,
    /// Items after this id.
    pub after: Option<Uuid>,
}

impl Default for Page {
    fn default() -> Self {
        Page {
            limit: 50,
            after: None,
        }
    }
}

/// One page of results.
#[derive(Debug, Clone)]
pub struct Paged<T> {
    pub items: Vec<T>,
    /// The id to continue after, when there are more items.
    pub next_after: Option<Uuid>,
}

impl Page {
    /// The `after` bound as stored (the nil UUID sorts before every id).
    pub(crate) fn after_str(&self) -> String {
        self.after.unwrap_or(Uuid::nil()).to_string()
    }

    /// The number of rows to fetch: one more than the limit, to know if there are more.
    pub(crate) fn fetch(&self) -> i64 {
        i64::from(self.limit) + 1
    }

    /// Cuts the extra row and computes the cursor.
    pub(crate) fn finish<T>(&self, mut items: Vec<T>, id: impl Fn(&T) -> Uuid) -> Paged<T> {
        let more = items.len() > self.limit as usize;
        items.truncate(self.limit as usize);
        let next_after = if more { items.last().map(id) } else { None };
        Paged { items, next_after }
    }
}
