//! State that the layers above the driver keep in a ring, one value per type: the registry's
//! resource set, the built-in executor's wake-up channel and tasks. The driver knows none of
//! their types; it keeps them alive as long as the kernel may use their memory — they drop
//! after the ring's shutdown drain, or are leaked if it timed out (invariant 5) — and hands
//! each layer its own back.
#![forbid(unsafe_code)]

use std::any::{Any, TypeId};
use std::cell::RefCell;
use std::rc::Rc;

/// See the module docs.
#[derive(Default)]
pub(crate) struct Layers(RefCell<Vec<(TypeId, Rc<dyn Any>)>>);

impl Layers {
    /// The ring's `T`, if a layer stored one.
    #[inline]
    pub fn get<T: Any>(&self) -> Option<Rc<T>> {
        let layers = self.0.borrow();
        let (_, any) = layers.iter().find(|(id, _)| *id == TypeId::of::<T>())?;
        any.clone().downcast().ok()
    }

    /// The ring's `T`, made by `init` (with no borrow held) on first use.
    pub fn get_or_init<T: Any>(&self, init: impl FnOnce() -> T) -> Rc<T> {
        if let Some(found) = self.get::<T>() {
            return found;
        }
        let made = Rc::new(init());
        self.0.borrow_mut().push((TypeId::of::<T>(), made.clone()));
        made
    }

    /// Forgets every layer's state: the kernel may still use its memory (invariant 5).
    pub fn leak(&self) {
        if let Ok(mut layers) = self.0.try_borrow_mut() {
            std::mem::forget(std::mem::take(&mut *layers));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_type_gets_its_own_value_made_once() {
        let layers = Layers::default();
        let a = layers.get_or_init(|| 1u32);
        let b = layers.get_or_init(|| 2u32);
        assert!(Rc::ptr_eq(&a, &b));
        assert_eq!(*layers.get_or_init(|| "text"), "text");
        assert_eq!(layers.get::<u32>().as_deref(), Some(&1));
        assert!(layers.get::<u64>().is_none());
    }
}
