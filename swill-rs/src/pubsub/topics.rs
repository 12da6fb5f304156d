//! [`Topics`]: what subscribing takes, one topic name or several.

use std::sync::Arc;

/// One topic or several: `&str`, `String`, `Arc<str>`, or a `Vec`/array/slice of them.
pub trait Topics {
    /// The topic names.
    fn into_topics(self) -> Vec<Arc<str>>;
}

impl Topics for &str {
    fn into_topics(self) -> Vec<Arc<str>> {
        vec![Arc::from(self)]
    }
}

impl Topics for String {
    fn into_topics(self) -> Vec<Arc<str>> {
        vec![Arc::from(self)]
    }
}

impl Topics for Arc<str> {
    fn into_topics(self) -> Vec<Arc<str>> {
        vec![self]
    }
}

impl<T: Into<Arc<str>>> Topics for Vec<T> {
    fn into_topics(self) -> Vec<Arc<str>> {
        self.into_iter().map(Into::into).collect()
    }
}

impl<T: Into<Arc<str>>, const N: usize> Topics for [T; N] {
    fn into_topics(self) -> Vec<Arc<str>> {
        self.into_iter().map(Into::into).collect()
    }
}

impl<T: Clone + Into<Arc<str>>> Topics for &[T] {
    fn into_topics(self) -> Vec<Arc<str>> {
        self.iter().cloned().map(Into::into).collect()
    }
}
