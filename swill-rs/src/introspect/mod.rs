//! Introspection: handler descriptors, `swill.introspect` items and the schema.json document.
