//! [`Module`]: a group of handlers under a name prefix, with call hooks of its own.

use std::sync::Arc;

use super::Hooks;
use crate::handler::{HandlerDef, IntoHandler};
use crate::hooks::CallHooks;

/// A group of handlers nested under a name prefix (`math` → `math.add`), with call hooks
/// that apply to the group only. A handler with a [contract](mod@crate::contract) keeps the
/// contract's rpc name whole: the module gives it its hooks, not its prefix.
///
/// ```
/// # use swill::{Error, Module, Request, Swill};
/// #[swill::handler]
/// async fn add(req: Request<(i64, i64)>) -> Result<i64, Error> {
///     let (a, b) = req.into_data();
///     Ok(a + b)
/// }
///
/// let math = Module::new("math").handler(add);
/// let app = Swill::new().module(math); // serves "math.add"
/// # drop(app);
/// ```
#[derive(Debug)]
pub struct Module {
    prefix: String,
    entries: Vec<Entry>,
    hooks: Hooks,
}

/// A handler or a module, kept in registration order so that introspection lists handlers in
/// the order they were registered, whether directly or through modules.
#[derive(Debug)]
pub(super) enum Entry {
    Handler(HandlerDef),
    Module(Module),
}

impl Module {
    /// A module whose handlers are named `prefix.name`.
    pub fn new(prefix: impl Into<String>) -> Self {
        Self {
            prefix: prefix.into(),
            entries: Vec::new(),
            hooks: Hooks::default(),
        }
    }

    /// Adds a handler.
    #[must_use]
    pub fn handler(mut self, h: impl IntoHandler) -> Self {
        self.entries.push(Entry::Handler(h.into_handler()));
        self
    }

    /// Nests another module (`outer.inner.name`).
    #[must_use]
    pub fn module(mut self, m: Self) -> Self {
        self.entries.push(Entry::Module(m));
        self
    }

    /// Adds call hooks for this module's handlers (nested modules included). They run after
    /// the app's hooks and an outer module's hooks. Calling it again appends.
    #[must_use]
    pub fn hooks(mut self, hooks: Hooks) -> Self {
        self.hooks = self.hooks.merged(&hooks);
        self
    }

    /// Every handler below this module with its full name, in registration order.
    pub(super) fn handlers<'a>(&'a self, prefix: &str, out: &mut Vec<(String, &'a HandlerDef)>) {
        let prefix = if prefix.is_empty() {
            self.prefix.clone()
        } else {
            format!("{prefix}.{}", self.prefix)
        };
        for entry in &self.entries {
            match entry {
                Entry::Handler(h) if h.absolute => out.push((h.name().to_owned(), h)),
                Entry::Handler(h) => out.push((format!("{prefix}.{}", h.name()), h)),
                Entry::Module(m) => m.handlers(&prefix, out),
            }
        }
    }

    /// Every handler below this module, renamed under the prefixes, with the call hooks of
    /// the app, of `parent` modules and of this one.
    pub(super) fn flatten(
        self,
        prefix: &str,
        parent: &Hooks,
        out: &mut Vec<(HandlerDef, Arc<CallHooks>)>,
    ) {
        let prefix = if prefix.is_empty() {
            self.prefix
        } else {
            format!("{prefix}.{}", self.prefix)
        };
        let hooks = parent.merged(&self.hooks);
        let shared = Arc::new(hooks.calls.clone());
        for entry in self.entries {
            match entry {
                // A contract's rpc name is whole: the module groups its hooks only.
                Entry::Handler(h) if h.absolute => out.push((h, shared.clone())),
                Entry::Handler(h) => {
                    let name = format!("{prefix}.{}", h.name());
                    out.push((h.with_name(name), shared.clone()));
                }
                Entry::Module(m) => m.flatten(&prefix, &hooks, out),
            }
        }
    }
}
