//! A short list kept inline: a principal's few memberships and teams live in its entry, so
//! that a check reads them without following a pointer; a longer list spills to a `Vec`.

/// Up to `N` items inline, more on the heap; items keep the order they were pushed in.
#[derive(Debug, Clone)]
pub(crate) enum Inline<T, const N: usize> {
    Inline { len: u8, items: [T; N] },
    Spilled(Vec<T>),
}

impl<T: Copy + Default, const N: usize> Default for Inline<T, N> {
    fn default() -> Self {
        Inline::Inline {
            len: 0,
            items: [T::default(); N],
        }
    }
}

impl<T: Copy + Default + PartialEq, const N: usize> Inline<T, N> {
    #[inline]
    pub fn as_slice(&self) -> &[T] {
        match self {
            Inline::Inline { len, items } => items.get(..*len as usize).unwrap_or(&[]),
            Inline::Spilled(v) => v,
        }
    }

    pub fn as_mut_slice(&mut self) -> &mut [T] {
        match self {
            Inline::Inline { len, items } => items.get_mut(..*len as usize).unwrap_or(&mut []),
            Inline::Spilled(v) => v,
        }
    }

    pub fn len(&self) -> usize {
        self.as_slice().len()
    }

    pub fn iter(&self) -> std::slice::Iter<'_, T> {
        self.as_slice().iter()
    }

    pub fn contains(&self, x: &T) -> bool {
        self.as_slice().contains(x)
    }

    pub fn push(&mut self, x: T) {
        match self {
            Inline::Inline { len, items } => {
                if let Some(slot) = items.get_mut(*len as usize) {
                    *slot = x;
                    *len += 1;
                } else {
                    let mut v = Vec::with_capacity(N * 2);
                    v.extend_from_slice(items);
                    v.push(x);
                    *self = Inline::Spilled(v);
                }
            }
            Inline::Spilled(v) => v.push(x),
        }
    }

    /// Keeps the items for which `keep` is true, in order. A spilled list stays spilled
    /// (it is rare, and it avoids moving back and forth around `N`).
    pub fn retain(&mut self, mut keep: impl FnMut(&T) -> bool) {
        match self {
            Inline::Inline { len, items } => {
                let old = *items;
                *items = [T::default(); N];
                let mut kept = 0;
                for x in old.iter().take(*len as usize).filter(|x| keep(x)) {
                    if let Some(slot) = items.get_mut(kept) {
                        *slot = *x;
                        kept += 1;
                    }
                }
                *len = kept as u8;
            }
            Inline::Spilled(v) => v.retain(|x| keep(x)),
        }
    }
}

impl<'a, T: Copy + Default + PartialEq, const N: usize> IntoIterator for &'a Inline<T, N> {
    type Item = &'a T;
    type IntoIter = std::slice::Iter<'a, T>;
    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::Inline;

    #[test]
    fn keeps_order_across_the_spill() {
        let mut l: Inline<u32, 3> = Inline::default();
        for i in 0..3 {
            l.push(i);
        }
        assert!(matches!(l, Inline::Inline { .. }));
        l.retain(|x| *x != 1);
        assert_eq!(l.as_slice(), &[0, 2]);
        l.push(5);
        l.push(6);
        assert!(matches!(l, Inline::Spilled(_)));
        assert_eq!(l.as_slice(), &[0, 2, 5, 6]);
        l.retain(|x| *x != 0);
        assert_eq!(l.as_slice(), &[2, 5, 6]);
        assert!(l.contains(&6) && !l.contains(&0));
        assert_eq!(l.len(), 3);
    }
}
